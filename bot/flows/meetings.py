"""Meetings: opening and finding the open meeting, the meeting log (decisions, directions, actions,
information), roll call, the minutes, and changes to the schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.domain.forums import ForumState, same_event
from bot.domain.lagesbild import week_of
from bot.domain.model import Forum, Function
from bot.domain.names import normalise
from bot.domain.schedule import Occurrence, forum_occurrences
from bot.domain.timeparse import TIME_EXAMPLES, parse_when
from bot.flows.context import Context
from bot.flows.convocation import agenda, composition_organisations, headline, pings, rings, tell_texted_it_ended
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.messages import Attachment, Message, Outgoing
from bot.state import convocations as conv_store
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state import repo, reports
from bot.state.models import LogEntry, MeetingRow
from bot.texts.rich import Rich


def which_forum(ctx: Context, forum: Forum | None) -> Forum:
    forum = forum or ctx.forum_here()
    if forum is None:
        raise UserError("meeting.which_forum")
    return forum


async def member_function(ctx: Context, forum: Forum, action: str) -> Function:
    state = await forum_store.forum_state(ctx.session, forum.id)
    function = (await ctx.authority(forum, state)).any
    if function is None:
        raise NotAllowed("meeting.refused", action=action, forum_id=forum.id, forum=forum.name)
    return function


async def chair_function(ctx: Context, forum: Forum, action: str) -> Function:
    state = await forum_store.forum_state(ctx.session, forum.id)
    meeting = await store.open_meeting(ctx.session, forum.id)
    held = {f.id for f in await ctx.held()}
    if meeting is not None and meeting.chair_function in held:
        return ctx.directory.function(meeting.chair_function)
    return await ctx.convener_or_chair(forum, state, "meeting.chair_refused", action)


async def require_open(ctx: Context, forum: Forum) -> MeetingRow:
    meeting = await store.open_meeting(ctx.session, forum.id)
    if meeting is None:
        raise UserError("meeting.none_open", forum=forum.name)
    return meeting


MAX_ENTRY = 1000
BY = {"senast", "by", "before"}


def due_at_end(ctx: Context, words: list[str]) -> tuple[list[str], datetime | None]:
    """'röj E4 senast 18:00' -> (['röj', 'E4'], 18:00); a time that is unreadable or past gets a sentence."""
    cut = max((i for i, w in enumerate(words) if normalise(w) in BY), default=None)
    if cut is None:
        return words, None
    return words[:cut], ctx.time_to_come(" ".join(words[cut + 1:]), "log.bad_due")


async def log(ctx: Context, kind: str, text: str, owner: Function | None = None,
              due: datetime | None = None) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    author = await member_function(ctx, forum, f"log_{kind}")
    state = await forum_store.forum_state(ctx.session, forum.id)
    meeting = await store.open_meeting(ctx.session, forum.id)
    if meeting is None and not state.active:
        raise UserError("log.nowhere", forum=forum.name)
    now = ctx.clock.now()
    entry = await store.add_entry(ctx.session, LogEntry(
        forum_id=forum.id, meeting_id=meeting.id if meeting else None, activation_id=state.activation_id,
        event=state.event, kind=kind, text=text, author=ctx.sender, author_function=author.id, at=now,
        owner_function=owner.id if owner else None, due_at=due))
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=author.id, action=f"log_{kind}",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"entry": entry.id})
    label = ctx.t(f"log.kind.{kind}")
    noted = Rich().text(ctx.t("log.noted", kind=label, number=entry.id))
    if kind == "direction":  # each organisation takes it home and says so (återföra, seed 000)
        noted.br().text(ctx.t("returned.ask", number=entry.id))
    out: list[Outgoing] = [replace(ctx.reply(noted), ref=f"återfört:{entry.id}")]
    if kind in ("decision", "direction"):
        out += echo(ctx, forum, state.event, label, entry, author)
    if kind == "direction" and forum.level == "inriktande":
        for linked, _ in await linked_forums(ctx, forum, state):
            out.append(direction_notice(ctx, forum, state.event, entry, linked.room))
    return out


async def returned_text(ctx: Context, forum: Forum, state: ForumState, directions: list[LogEntry],
                        rich: Rich) -> Rich:
    """Each direction with the organisations that have taken it home and those that have not yet."""
    asked = await composition_organisations(ctx, forum, state)
    done: dict[int, list[str]] = {}
    for row in await store.returns(ctx.session, [d.id or 0 for d in directions]):
        done.setdefault(row.entry_id, []).append(row.organisation_id)
    name = ctx.directory.organisation
    for direction in directions:
        returned = done.get(direction.id or 0, [])
        waiting = [o for o in asked if o not in returned]
        rich.item().text(f"#{direction.id} {direction.text}")
        rich.indent().text(ctx.t("returned.by", names=", ".join(name(o).name for o in returned) or
                                 ctx.t("message.nobody")))
        rich.indent().text(ctx.t("returned.waiting", names=", ".join(name(o).name for o in waiting) or
                                 ctx.t("message.nobody")))
    return rich


async def linked_forums(ctx: Context, forum: Forum, state: ForumState) -> list[tuple[Forum, ForumState]]:
    """The forums of the other level activated for the same event: the samordnande forum works within
    the frame the inriktande forum sets (seed 000), so each sees the other's directions."""
    if not state.active or state.event is None or forum.level not in ("inriktande", "samordnande"):
        return []
    other = "samordnande" if forum.level == "inriktande" else "inriktande"
    found = []
    for candidate in ctx.directory.settings.forums:
        if candidate.level == other:
            theirs = await forum_store.forum_state(ctx.session, candidate.id)
            if theirs.active and theirs.event is not None and same_event(theirs.event, state.event):
                found.append((candidate, theirs))
    return found


async def directions_from_above(ctx: Context, forum: Forum, state: ForumState, rich: Rich) -> None:
    """For a samordnande forum: the directions in force of the inriktande forum of the same event."""
    if forum.level != "samordnande":
        return
    for directing, theirs in await linked_forums(ctx, forum, state):
        directions = [e for e in await store.in_force(ctx.session, directing.id, theirs.activation_id)
                      if e.kind == "direction"]
        if directions:
            rich.br().bold(ctx.t("catchup.from_directing", forum=directing.name))
        for entry in directions:
            rich.item().text(f"#{entry.id}: {entry.text} ({ctx.when(entry.at)})")


def direction_notice(ctx: Context, forum: Forum, event: str | None, entry: LogEntry, room: str) -> Message:
    """'INRIKTNING #12 från Regionalt inriktande forum (snöoväder): …' in a forum of the level below."""
    rich = Rich().bold(ctx.t("link.direction", number=entry.id, forum=forum.name, event=event or "")).br()
    rich.text(entry.text)
    return Message(target=room, body=rich.plain, html=rich.html)


def echo(ctx: Context, forum: Forum, event: str | None, label: str, entry: LogEntry,
         author: Function) -> list[Outgoing]:
    """A decision or direction, as made, in the log room."""
    log_room = ctx.directory.settings.bot.log_room
    if not log_room:
        return []
    rich = Rich().bold(f"{label.upper()} #{entry.id}").text(f" — {forum.name}" + (f" ({event})" if event else ""))
    rich.br().text(entry.text).br().text(f"{author.name} ({ctx.sender}), {ctx.when(entry.at)}")
    return [Message(target=log_room, body=rich.plain, html=rich.html)]


async def remind_action(ctx: Context, action_id: int) -> list[Outgoing]:
    """Before an action is due, its owner function hears about it by direct message."""
    action = await store.get_entry(ctx.session, action_id)
    if action is None or action.reminded_at is not None or action.owner_function is None or action.due_at is None:
        return []
    action.reminded_at = ctx.clock.now()
    ctx.session.add(action)
    if action.due_at <= ctx.clock.now() or action.deviation is not None:
        return []  # already overdue: the chase says it; a deviation reported: the owner has spoken
    owner = ctx.directory.function(action.owner_function)
    rich = Rich().text(ctx.t("action.reminder", number=action.id, function=owner.name, when=ctx.when(action.due_at),
                             text=action.text))
    holders = (await ctx.roster()).holders(owner.id, ctx.clock.now())
    return rings(holders, rich)


async def chase_action(ctx: Context, action_id: int) -> list[Outgoing]:
    """Once an action is overdue with no word from its owner, the owner function is asked, once, to mark it
    done or report a deviation (seed 000: commitments are carried out and followed up)."""
    action = await store.get_entry(ctx.session, action_id)
    if action is None or action.chased_at is not None or action.owner_function is None or action.due_at is None \
            or action.done_at is not None or action.withdrawn_at is not None or action.deviation is not None:
        return []
    action.chased_at = ctx.clock.now()
    ctx.session.add(action)
    owner = ctx.directory.function(action.owner_function)
    rich = Rich().text(ctx.t("action.chase", number=action.id, function=owner.name, when=ctx.when(action.due_at),
                             text=action.text))
    return rings((await ctx.roster()).holders(owner.id, ctx.clock.now()), rich)


async def owned_action(ctx: Context, number: str, refusal: str, audited: str) -> tuple[LogEntry, Function | None]:
    """Action number `number` and the sender's function in its responsible organisation (None: they logged it).

    The actor decides about its own action: anyone else is refused (and audited)."""
    if not number.isdecimal() or len(number) > 9:
        raise BadArgument("done.bad_number", given=number[:20])
    entry = await store.get_entry(ctx.session, int(number))
    if entry is None or entry.kind != "action" or entry.withdrawn_at is not None:
        raise UserError("done.no_action", number=number)
    owner = ctx.directory.function(entry.owner_function) if entry.owner_function else None
    acting = next((f for f in await ctx.held() if owner is not None and f.organisation == owner.organisation), None)
    if acting is None and entry.author != ctx.sender:
        raise NotAllowed(refusal, action=audited, forum_id=entry.forum_id, owner=owner.name if owner else "—")
    return entry, acting


def action_state(ctx: Context, action: LogEntry, rich: Rich) -> Rich:
    """' — klar …', ' — FÖRSENAD …', ' — senast …', and the owner's deviation if any."""
    now = ctx.clock.now()
    if action.done_at is not None:
        rich.text(" — " + ctx.t("actions.done", when=ctx.when(action.done_at)))
    elif action.due_at is not None and action.due_at < now:
        rich.text(" — " + ctx.t("actions.overdue", when=ctx.when(action.due_at)))
    elif action.due_at is not None:
        rich.text(" — " + ctx.t("minutes.due", when=ctx.when(action.due_at)))
    if action.deviation and action.done_at is None:
        rich.text(" — " + ctx.t("actions.deviation", text=action.deviation))
    return rich


async def composition(ctx: Context, forum: Forum, meeting: MeetingRow) -> list[str]:
    state = await forum_store.forum_state(ctx.session, forum.id)
    added = await conv_store.added_functions(ctx.session, forum.id, meeting.activation_id)
    return list(dict.fromkeys([*state.composition(forum), *added]))


async def roll_call_text(ctx: Context, forum: Forum, meeting: MeetingRow) -> Rich:
    present = {a.function_id: a for a in await store.attendance(ctx.session, meeting.id or 0)}
    rich = Rich().bold(ctx.t("rollcall.title", name=meeting.name, forum=forum.name))
    by_org: dict[str, list[str]] = {}
    for function_id in await composition(ctx, forum, meeting):
        by_org.setdefault(ctx.directory.function(function_id).organisation, []).append(function_id)
    for org_id, functions in by_org.items():
        rich.item().bold(ctx.directory.organisation(org_id).name).text(": ")
        for i, function_id in enumerate(functions):
            mark = present.get(function_id)
            rich.text(", " if i else "").text(ctx.directory.function(function_id).name)
            if mark is None:
                rich.text(" —")
            else:
                rich.text(f" ✅ {mark.user_id}" + (f" ({ctx.t('rollcall.deputy')})" if mark.deputy else ""))
    rich.br().text(ctx.t("rollcall.how", present=len(present), total=sum(len(f) for f in by_org.values())))
    now = ctx.clock.now()
    overdue = [a for a in await store.open_actions(ctx.session, forum.id) if a.due_at is not None and a.due_at < now]
    if overdue:  # followed up at the meeting (seed 000: commitments are carried out and followed up)
        rich.br().bold(ctx.t("rollcall.overdue"))
    for action in overdue:
        owner = ctx.directory.function(action.owner_function).name if action.owner_function else "—"
        action_state(ctx, action, rich.item().text(f"#{action.id} {action.text} ({owner})"))
    return rich


async def mark_present(ctx: Context, forum: Forum, meeting: MeetingRow, as_deputy: bool) -> list[str]:
    """The functions of the meeting the sender answers for: their own, or as a deputy for one."""
    wanted = await composition(ctx, forum, meeting)
    held = await ctx.held()
    marked: list[str] = []
    for function in held:
        if function.id in wanted and await store.attend(ctx.session, meeting.id or 0, function.id, ctx.sender,
                                                         as_deputy, ctx.clock.now()):
            marked.append(function.id)
    if not marked and not any(f.id in wanted for f in held):
        for function_id in wanted:  # standing in for a function whose deputy they hold
            deputies = ctx.directory.function(function_id).deputies
            if any(f.id in deputies for f in held) and await store.attend(
                    ctx.session, meeting.id or 0, function_id, ctx.sender, True, ctx.clock.now()):
                marked.append(function_id)
    return marked


SECTIONS = (("decision", "minutes.decisions"), ("direction", "minutes.directions"),
            ("action", "minutes.actions"), ("message", "minutes.messages"), ("info", "minutes.info"))


def entry_line(ctx: Context, entry: LogEntry, rich: Rich) -> None:
    rich.item().text(entry.text)
    if entry.kind == "action" and entry.owner_function:
        rich.text(" — " + ctx.t("minutes.owner", function=ctx.directory.function(entry.owner_function).name))
        if entry.due_at:
            rich.text(", " + ctx.t("minutes.due", when=ctx.when(entry.due_at)))
    author = ctx.directory.function(entry.author_function).name if entry.author_function else entry.author
    rich.text(f" ({author}, {ctx.when(entry.at)})")


async def minutes(ctx: Context, forum: Forum, meeting: MeetingRow) -> Rich:
    assert meeting.id is not None
    rich = Rich()
    if meeting.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    rich.bold(ctx.t("minutes.title", name=meeting.name, forum=forum.name)).br()
    rich.text(f"{ctx.t('minutes.level')}: {ctx.t('status.level.' + forum.level)} · {ctx.t('minutes.mode')}: ")
    rich.text(ctx.t(f"status.mode.{meeting.mode}") + (f" ({meeting.event})" if meeting.event else "")).br()
    start = meeting.opened_at or meeting.starts_at
    opened = ctx.when(start, year=True)  # a record: with the year
    ended = ""
    if meeting.ended_at:
        same_day = meeting.ended_at.astimezone(ctx.tz).date() == start.astimezone(ctx.tz).date()
        ended = meeting.ended_at.astimezone(ctx.tz).strftime("%H:%M") if same_day else ctx.when(meeting.ended_at,
                                                                                                  year=True)
    rich.text(f"{ctx.t('minutes.time')}: {opened}" + (f"–{ended}" if ended else ""))
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
    kind = next((m.kind for m in forum.meetings if m.name == meeting.name), "extra")  # ad hoc: an extra conference
    rich.br().bold(ctx.t("minutes.agenda")).br().text(agenda(ctx, meeting.mode, kind))
    year, week = week_of(meeting.opened_at or meeting.starts_at, ctx.tz)
    summary = await reports.summary(ctx.session, forum.id, year, week)
    if summary is not None:
        rich.br().text(ctx.t("minutes.summary", week=week, when=ctx.when(summary.at)))
    entries = [e for e in await store.entries(ctx.session, meeting.id) if e.withdrawn_at is None]
    for section, label in SECTIONS:
        chosen = [e for e in entries if e.kind == section]
        if chosen:  # an empty section says nothing
            rich.br().bold(ctx.t(label))
        for entry in chosen:
            entry_line(ctx, entry, rich)
    return rich


async def publish(ctx: Context, forum: Forum, meeting: MeetingRow) -> list[Outgoing]:
    """The minutes to the log room, with the HTML file to keep, and as text to the home room of every
    organisation convened or present, present or not: those absent need them most (återföra, seed
    000). No file there: it would notify everyone in those rooms."""
    rich = await minutes(ctx, forum, meeting)
    log_room = ctx.directory.settings.bot.log_room
    functions = [a.function_id for a in await store.attendance(ctx.session, meeting.id or 0)]
    if meeting.convocation_id is not None:
        functions += [s.function_id for s in await conv_store.summonses(ctx.session, meeting.convocation_id)]
    else:  # opened without a convocation: the composition of the meeting's mode
        functions += ForumState(forum.id, mode=meeting.mode).composition(forum)
    homes: list[str] = []
    for function_id in dict.fromkeys(functions):
        org = ctx.directory.organisation(ctx.directory.function(function_id).organisation)
        if org.home_room and org.home_room != log_room:
            homes.append(org.home_room)
    out: list[Outgoing] = []
    if log_room:
        out.append(Message(target=log_room, body=rich.plain, html=rich.html,
                           attachment=minutes_file(forum, meeting, rich)))
    return out + [Message(target=room, body=rich.plain, html=rich.html) for room in dict.fromkeys(homes)]


def minutes_file(forum: Forum, meeting: MeetingRow, rich: Rich) -> Attachment:
    """The minutes as an HTML page to keep, forward or print."""
    day = (meeting.opened_at or meeting.starts_at).date().isoformat()
    return Attachment(f"minnesanteckningar-{forum.id}-{day}.html", "text/html", rich.page(f"{forum.name} {day}"))


HORIZON = timedelta(weeks=5)


def when_with_week(ctx: Context, instant: datetime) -> str:
    """'tor 26 nov 10:00 (v. 48)' in local time."""
    return f"{ctx.when(instant)} ({ctx.t('week', week=instant.astimezone(ctx.tz).isocalendar().week)})"


async def upcoming(ctx: Context, forum: Forum, horizon: timedelta = HORIZON) -> list[Occurrence]:
    changes = await store.changes(ctx.session)
    now = ctx.clock.now()
    return forum_occurrences(forum, now, now + horizon, ctx.tz, changes)


MATCH = timedelta(minutes=1)


async def may_change_schedule(ctx: Context, forum: Forum, action: str) -> str:
    state = await forum_store.forum_state(ctx.session, forum.id)
    return (await ctx.convener_or_chair(forum, state, "schema.refused", action)).id


def meeting_time(ctx: Context, words: list[str]) -> datetime:
    try:
        return parse_when(" ".join(words), ctx.clock.now(), ctx.tz)
    except ValueError:
        raise BadArgument("schema.bad_time", examples=TIME_EXAMPLES) from None


async def occurrence_at(ctx: Context, forum: Forum, at: datetime | None) -> Occurrence:
    """The scheduled occurrence at `at`, or the next one."""
    found = [o for o in await upcoming(ctx, forum, timedelta(days=90)) if not o.cancelled]
    if at is not None:
        found = [o for o in found if abs(o.starts_at - at) < MATCH]
    if not found:
        raise UserError("schema.no_such_meeting", forum=forum.name, forum_id=forum.id)
    return found[0]


async def tell_convened(ctx: Context, forum: Forum, occurrence: Occurrence, text: str, *,
                        moved_to: datetime | None = None, cancelled: bool = False) -> list[Outgoing]:
    """The forum room, and everyone already convened by direct message; those who got the convocation by SMS
    get one more (FLYTTAD with the new time, or INSTÄLLT). A cancelled meeting's convocation ends, and none of
    its pending steps is delivered; a moved one stands, for its new time."""
    state = await forum_store.forum_state(ctx.session, forum.id)
    meeting = await store.by_occurrence(ctx.session, occurrence.key)
    rich = headline(ctx, forum, state).br().text(text)
    if meeting is None or meeting.convocation_id is None:
        return pings(forum.room, rich, [], None)
    summonses = await conv_store.summonses(ctx.session, meeting.convocation_id)
    people = list(dict.fromkeys(u for s in summonses for u in conv_store.holders(s)))
    out = [*pings(forum.room, rich, people, None), *rings(people, rich)]
    convocation = await conv_store.get(ctx.session, meeting.convocation_id)
    if convocation is None or convocation.ended_at is not None:
        return out
    if cancelled:
        ended = await conv_store.end(ctx.session, [convocation], ctx.clock.now(), "cancelled")
        out += await tell_texted_it_ended(ctx, forum, ended)
    elif moved_to is not None:
        convocation.starts_at = moved_to
        ctx.session.add(convocation)
        out += await tell_texted_it_ended(ctx, forum, [convocation], moved_to)
    return out
