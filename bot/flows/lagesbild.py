"""Lägesbild: compiling the reports into the picture, and what the schedule does with reports before a
meeting: ask for them, chase the missing, post the weekly summary."""

from __future__ import annotations

from datetime import datetime

from bot.domain.forums import ForumState
from bot.domain.lagesbild import Compiled, compile_reports
from bot.domain.model import Forum
from bot.domain.schedule import report_week
from bot.flows.context import Context
from bot.flows.convocation import composition_organisations, headline, pings, rings
from bot.messages import Attachment, Message, Outgoing
from bot.state import convocations as conv_store
from bot.state import meetings as meeting_store
from bot.state import reports as store
from bot.state.models import Convocation
from bot.texts.rich import Rich

SHORT = 160  # characters of a statement in the message; the attached file has everything


async def current_week(ctx: Context, forum: Forum) -> tuple[int, int]:
    """(ISO year, week) a report filed now belongs to: that of the meeting it has been asked for."""
    return report_week(forum, await meeting_store.changes(ctx.session), ctx.clock.now(), ctx.tz)


def reporters(ctx: Context, forum: Forum, state: ForumState, organisation: str) -> list[str]:
    """The composition functions through which an organisation reports."""
    return [f for f in state.composition(forum) if ctx.directory.function(f).organisation == organisation]


async def week_picture(ctx: Context, forum: Forum, state: ForumState, year: int, week: int) -> Compiled:
    rows = await store.of_week(ctx.session, forum.id, year, week)
    return compile_reports([store.domain(r) for r in rows], await composition_organisations(ctx, forum, state))


async def event_picture(ctx: Context, forum: Forum, state: ForumState) -> Compiled:
    rows = await store.of_activation(ctx.session, forum.id, state.activation_id or 0)
    return compile_reports([store.domain(r) for r in rows], await composition_organisations(ctx, forum, state))


def coverage_line(ctx: Context, compiled: Compiled) -> str:
    done, total = compiled.coverage
    return ctx.t("report.coverage", done=done, count=total)


def render(ctx: Context, forum: Forum, title: str, compiled: Compiled, short: bool) -> Rich:
    """Header, coverage, then each field's statements by organisation, then who is missing."""
    rich = Rich().bold(title).text(f" — {forum.name}").br()
    rich.text(f"{ctx.when(ctx.clock.now())} · {coverage_line(ctx, compiled)}")
    for key, statements in compiled.by_field.items():
        rich.br().bold(ctx.t(f"report.field.{key}"))
        for org, statement in statements:
            text = statement if not short or len(statement) <= SHORT else statement[:SHORT] + "…"
            report = compiled.reports[org]
            mark = f" ({ctx.t('report.relayed')})" if report.relayed_by else ""
            rich.item().bold(ctx.directory.organisation(org).name).text(f"{mark}: {text}")
    if compiled.missing:
        rich.br().bold(ctx.t("report.missing")).text(
            ": " + ", ".join(ctx.directory.organisation(o).name for o in compiled.missing))
    return rich


def week_title(ctx: Context, week: int) -> str:
    return ctx.t("report.week_title", week=week)


def picture_file(forum: Forum, full: Rich, title: str, name: str) -> Attachment:
    """The full picture as an HTML page, like the minutes."""
    return Attachment(f"lagesbild-{forum.id}-{name}.html", "text/html", full.page(f"{title} — {forum.name}"))


# ---- the schedule's steps ----


async def request_reports(ctx: Context, forum: Forum, state: ForumState, deadline: datetime,
                          meeting_name: str, year: int, week: int) -> list[Outgoing]:
    """Ask each organisation that has not reported for the meeting's week, by direct message to its reporter."""
    done = (await week_picture(ctx, forum, state, year, week)).reports
    roster = await ctx.roster()
    out: list[Outgoing] = []
    asked: set[str] = set()
    for org in await composition_organisations(ctx, forum, state):
        if org in done:
            continue
        rich = Rich().bold(ctx.t("report.request_title", week=week, forum=forum.name)).br()
        rich.text(ctx.t("report.request", organisation=ctx.directory.organisation(org).name, meeting=meeting_name,
                        deadline=ctx.when(deadline), forum_id=forum.id))
        for function in reporters(ctx, forum, state, org):
            for user in roster.holders(function, ctx.clock.now()):
                if user not in asked:
                    asked.add(user)
                    out += rings([user], rich)
    return out


async def request_update(ctx: Context, forum: Forum, state: ForumState, conference: Convocation) -> list[Outgoing]:
    """Before a conference of an activation (a rhythm's, or one called for later): each organisation that has
    not reported since the conference before it is asked for its lägesbild by the conference (seed 000's
    "uppföljningen av den regionala lägesbilden" at each planned collaboration conference)."""
    if not state.active or state.activation_id is None or conference.activation_id != state.activation_id:
        return []
    earlier = [c.starts_at for c in await conv_store.of_activations(ctx.session, [state.activation_id])
               if c.starts_at < conference.starts_at]
    since = max(earlier, default=state.since or conference.created_at)
    latest = {r.organisation_id: r.at for r in await store.of_activation(ctx.session, forum.id, state.activation_id)}
    roster = await ctx.roster()
    meeting = ctx.t("report.update_meeting", when=f"{conference.starts_at.astimezone(ctx.tz):%H:%M}")
    out: list[Outgoing] = []
    asked: set[str] = set()
    for org in await composition_organisations(ctx, forum, state):
        if org in latest and latest[org] >= since:
            continue
        rich = Rich().bold(ctx.t("report.update_title", meeting=meeting, forum=forum.name)).br()
        rich.text(ctx.t("report.request", organisation=ctx.directory.organisation(org).name, meeting=meeting,
                        deadline=ctx.when(conference.starts_at), forum_id=forum.id))
        users = [u for f in reporters(ctx, forum, state, org) for u in roster.holders(f, ctx.clock.now())
                 if u not in asked]
        asked.update(users)
        out += rings(list(dict.fromkeys(users)), rich)
    return out


async def chase(ctx: Context, forum: Forum, state: ForumState, year: int, week: int) -> list[Outgoing]:
    """At the deadline: who is missing, in the forum room, pinging them (and the chair sees coverage)."""
    compiled = await week_picture(ctx, forum, state, year, week)
    roster = await ctx.roster()
    now = ctx.clock.now()
    missing_people = list(dict.fromkeys(
        u for org in compiled.missing for f in reporters(ctx, forum, state, org) for u in roster.holders(f, now)))
    chair = list(roster.holders(state.chair_function(forum), now))
    rich = headline(ctx, forum, state).br().bold(ctx.t("report.deadline", week=week)).text(
        " " + coverage_line(ctx, compiled))
    if compiled.missing:
        rich.br().text(ctx.t("report.missing") + ": " + ", ".join(
            ctx.directory.organisation(o).name for o in compiled.missing))
        rich.br().text(ctx.t("report.how", forum_id=forum.id))
    out = pings(forum.room, rich, list(dict.fromkeys([*missing_people, *chair])), None)
    reminder = Rich().bold(ctx.t("conv.reminder")).text(" ").text(ctx.t("report.reminder", week=week,
                                                                          forum=forum.name, forum_id=forum.id))
    return out + rings(missing_people, reminder)


async def weekly_summary(ctx: Context, forum: Forum, state: ForumState, year: int, week: int) -> list[Outgoing]:
    """'Regional lägesbild vecka NN' to the forum room and the log room, stored once per week."""
    now = ctx.clock.now()
    if await store.summary(ctx.session, forum.id, year, week) is not None:
        return []
    compiled = await week_picture(ctx, forum, state, year, week)
    short = render(ctx, forum, week_title(ctx, week), compiled, short=True)
    full = render(ctx, forum, week_title(ctx, week), compiled, short=False)
    await store.add_summary(ctx.session, forum.id, year, week, now, full.plain, full.html)
    out: list[Outgoing] = [Message(target=forum.room, body=short.plain, html=short.html)]
    log_room = ctx.directory.settings.bot.log_room
    if log_room:  # the file to keep goes where the record is kept; in the forum room it would notify everyone
        out.append(Message(target=log_room, body=short.plain, html=short.html,
                           attachment=picture_file(forum, full, week_title(ctx, week), f"{year}-v{week:02d}")))
    return out
