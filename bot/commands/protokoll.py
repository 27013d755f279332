"""!protokoll [forum|mötesnummer]: the minutes of a meeting; published when the meeting ends.

The minutes go to the log room and to the home room of every organisation that took part
(återföring till hemorganisationen), readable on a phone: plain Markdown in the body, HTML in
the formatted body.
"""

from __future__ import annotations

import html

from bot.commands.context import Context
from bot.commands.errors import UserError
from bot.commands.registry import Arg, command
from bot.config import Forum
from bot.domain.lagesbild import week_of
from bot.messages import Attachment, Message, Outgoing
from bot.state import meetings as store
from bot.state import reports
from bot.state.models import LogEntry, MeetingRow
from bot.texts.rich import Rich

SECTIONS = (("decision", "minutes.decisions"), ("direction", "minutes.directions"),
            ("action", "minutes.actions"), ("info", "minutes.info"))


def entry_line(ctx: Context, entry: LogEntry, rich: Rich) -> None:
    rich.item().text(entry.text)
    if entry.kind == "action" and entry.owner_function:
        rich.text(" — " + ctx.t("minutes.owner", function=ctx.directory.function(entry.owner_function).name))
        if entry.due_at:
            rich.text(", " + ctx.t("minutes.due", when=ctx.when(entry.due_at)))
    author = ctx.directory.function(entry.author_function).name if entry.author_function else entry.author
    rich.text(f" ({author}, {ctx.when(entry.at)})")


async def render(ctx: Context, forum: Forum, meeting: MeetingRow) -> Rich:
    assert meeting.id is not None
    rich = Rich()
    if meeting.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    rich.bold(ctx.t("minutes.title", name=meeting.name, forum=forum.name)).br()
    rich.text(f"{ctx.t('minutes.level')}: {ctx.t('status.level.' + forum.level)} · {ctx.t('minutes.mode')}: ")
    rich.text(ctx.t(f"status.mode.{meeting.mode}") + (f" ({meeting.event})" if meeting.event else "")).br()
    opened = ctx.when(meeting.opened_at or meeting.starts_at)
    rich.text(f"{ctx.t('minutes.time')}: {opened}" + (f"–{ctx.when(meeting.ended_at)}" if meeting.ended_at else ""))
    for label, function_id in (("minutes.chair", meeting.chair_function),
                               ("minutes.secretary", meeting.secretary_function)):
        if function_id:
            rich.br().text(f"{ctx.t(label)}: {ctx.directory.function(function_id).name}")
    present = await store.attendance(ctx.session, meeting.id)
    rich.br().bold(ctx.t("minutes.attendance", count=len(present)))
    for attendance in present:
        function = ctx.directory.function(attendance.function_id)
        rich.item().text(f"{ctx.directory.organisation(function.organisation).name}: {function.name} "
                         f"({attendance.user_id}" + (f", {ctx.t('rollcall.deputy')})" if attendance.deputy else ")"))
    rich.br().bold(ctx.t("minutes.agenda")).br().text(ctx.t(f"agenda.{meeting.mode}"))
    year, week = week_of(meeting.opened_at or meeting.starts_at, ctx.tz)
    summary = await reports.summary(ctx.session, forum.id, year, week)
    if summary is not None:
        rich.br().text(ctx.t("minutes.summary", week=week, when=ctx.when(summary.at)))
    entries = [e for e in await store.entries(ctx.session, meeting.id) if e.withdrawn_at is None]
    for kind, label in SECTIONS:
        chosen = [e for e in entries if e.kind == kind]
        rich.br().bold(ctx.t(label))
        if not chosen:
            rich.item().text("—")
        for entry in chosen:
            entry_line(ctx, entry, rich)
    return rich


async def publish(ctx: Context, forum: Forum, meeting: MeetingRow) -> list[Outgoing]:
    """The minutes to the log room and the home room of each organisation present."""
    rich = await render(ctx, forum, meeting)
    rooms: list[str] = []
    if ctx.directory.settings.bot.log_room:
        rooms.append(ctx.directory.settings.bot.log_room)
    for attendance in await store.attendance(ctx.session, meeting.id or 0):
        org = ctx.directory.organisation(ctx.directory.function(attendance.function_id).organisation)
        if org.home_room:
            rooms.append(org.home_room)
    return [Message(target=room, body=rich.plain, html=rich.html, attachment=minutes_file(forum, meeting, rich))
            for room in dict.fromkeys(rooms)]


def minutes_file(forum: Forum, meeting: MeetingRow, rich: Rich) -> Attachment:
    """The minutes as an HTML page to keep, forward or print."""
    day = (meeting.opened_at or meeting.starts_at).date().isoformat()
    page = (f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{html.escape(forum.name)} {day}</title></head>'
            f"<body>{rich.html}</body></html>")
    return Attachment(f"protokoll-{forum.id}-{day}.html", "text/html", page)


@command("protokoll", en="minutes", args=(Arg("meeting", optional=True, rest=True, max_length=100),))
async def protokoll(ctx: Context, meeting: str | None) -> list[Outgoing]:
    found: MeetingRow | None
    if meeting and meeting.strip().lstrip("#").isdigit():
        found = await store.get(ctx.session, int(meeting.strip().lstrip("#")))
    else:
        forum = ctx.directory.forums.get(meeting) if meeting else ctx.forum_here()
        if forum is None:
            raise UserError("minutes.which")
        found = await store.latest(ctx.session, forum.id)
    if found is None:
        raise UserError("minutes.none")
    return [ctx.reply(await render(ctx, ctx.directory.forum(found.forum_id), found))]
