"""Activation: putting a forum in activated mode for an event and back, activation requests,
and the room state (topic prefix, pinned activation, `se.samverkan.forum`) that shows the mode."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.domain import forums as model
from bot.domain.forums import ForumState
from bot.domain.model import Forum, Function
from bot.flows import rhythm
from bot.flows.context import Context
from bot.flows.convocation import convene, pings, rings, tell_texted_it_ended
from bot.messages import PRIORITY_DIRECT, TOPIC_PREFIX, UNPIN, Message, Outgoing, StateUpdate
from bot.state import convocations, repo, warnings
from bot.state import forums as store
from bot.state.models import ActivationRequest, WarningProposal
from bot.texts.rich import Rich

FORUM_STATE_EVENT = "se.samverkan.forum"


def heading(ctx: Context, state: ForumState) -> Rich:
    """Every message about a forum in exercise mode starts with ÖVNING."""
    rich = Rich()
    if state.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    return rich


def room_state(ctx: Context, forum: Forum, state: ForumState, *, dissolved: bool = False) -> list[Outgoing]:
    """The topic people see, and the same facts machine-readably; a forum formed for an event and dissolved
    says so."""
    labels = {"activated": ctx.t("status.mode.activated"), "ordinary": ctx.t("status.mode.ordinary"),
              "since": ctx.t("status.since"), "exercise": ctx.t("status.exercise"), "months": ctx.t("months")}
    prefix = ctx.t("formed.topic_dissolved") if dissolved else model.topic_prefix(state, ctx.tz, labels)
    mode = "dissolved" if dissolved else state.mode
    machine = {"forum": forum.id, "level": forum.level, "mode": mode, "event": state.event,
               "description": state.description, "since": state.since.isoformat() if state.since else None,
               "activated_by": state.activated_by, "exercise": state.exercise}
    return [StateUpdate(forum.room, "m.room.topic", {TOPIC_PREFIX: prefix}),
            *([] if state.active else [StateUpdate(forum.room, "m.room.pinned_events", {UNPIN: True})]),
            StateUpdate(forum.room, FORUM_STATE_EVENT, machine, state_key=forum.id)]


async def deactivate(ctx: Context, forum: Forum, state: ForumState, function: Function, *,
                     reply: bool = True, dissolved: bool = False, also: str | None = None) -> list[Outgoing]:
    """Back to ordinary mode (or, for a forum formed for the event, dissolved): escalations stop, pending
    requests are closed, and the forum room, the log room and (`reply`) the sender are told, `also` with it."""
    now = ctx.clock.now()
    await store.deactivate(ctx.session, forum.id, at=now, by=ctx.sender)
    await convocations.stop_escalations(ctx.session, forum.id)
    ended = await convocations.end(ctx.session, await convocations.standing(
        ctx.session, forum.id, activation_id=state.activation_id), now, "deactivated") \
        if state.activation_id is not None else []
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id,
                     action="dissolve_forum" if dissolved else "deactivate", forum_id=forum.id,
                     event_id=ctx.incoming.event_id, detail={"event": state.event})
    after = await store.forum_state(ctx.session, forum.id)
    notice = heading(ctx, after).text(ctx.t("formed.dissolved" if dissolved else "activation.deactivated",
                                            forum=forum.name, event=state.event, who=function.name,
                                            sender=ctx.sender, when=ctx.when(now)))
    if also:
        notice.br().text(also)
    out: list[Outgoing] = [ctx.reply(notice)] if reply else []
    if not reply or ctx.forum_here() is not forum:
        out.append(Message(target=forum.room, body=notice.plain, html=notice.html))
    out += log_notice(ctx, notice)
    out += room_state(ctx, forum, after, dissolved=dissolved)
    out += await tell_texted_it_ended(ctx, forum, ended)
    for pending in await store.pending_requests(ctx.session, forum.id):
        await store.answer_request(ctx.session, pending, status="closed", by=ctx.sender, at=now,
                                   reason="deactivated")
        out.append(tell_requester(ctx, pending, Rich().text(ctx.t("activation.request_closed", forum=forum.name))))
    return out


def log_notice(ctx: Context, rich: Rich) -> list[Outgoing]:
    log_room = ctx.directory.settings.bot.log_room
    return [Message(target=log_room, body=rich.plain, html=rich.html)] if log_room else []


async def holders_of(ctx: Context, function_ids: list[str]) -> list[str]:
    """The people on duty now for these functions, once each."""
    roster = await ctx.roster()
    now = ctx.clock.now()
    return list(dict.fromkeys(user for f in function_ids for user in roster.holders(f, now)))


async def activated_messages(ctx: Context, forum: Forum, state: ForumState, by_function: str | None,
                             starts_at: datetime | None = None) -> list[Outgoing]:
    """The convocation of the activated composition (to a conference now or at `starts_at`), the log line
    and the room state."""
    who = ctx.directory.function(by_function).name if by_function else ctx.sender
    announce = Rich().text(ctx.t("activation.announce", event=state.event or "", who=who, sender=ctx.sender,
                                 when=ctx.when(state.since or ctx.clock.now())))
    if state.description:
        announce.br().text(state.description)
    convocation = await convene(ctx, forum, state, kind="activation", intro=announce, starts_at=starts_at)
    pings = [i for i, m in enumerate(convocation) if isinstance(m, Message) and m.ping and m.target == forum.room]
    if pings:  # the activation stays in view as a pinned banner until deactivation
        first = convocation[pings[0]]
        assert isinstance(first, Message)
        convocation[pings[0]] = replace(first, pin=True)
    log_line = heading(ctx, state).text(ctx.t("activation.log", forum=forum.name, event=state.event or "",
                                              who=who, sender=ctx.sender, when=ctx.when(ctx.clock.now())))
    return [*convocation, *log_notice(ctx, log_line), *room_state(ctx, forum, state)]


async def activate_now(ctx: Context, forum: Forum, event: str, description: str | None,
                       by_function: str | None, request: ActivationRequest | None = None,
                       starts_at: datetime | None = None, proposal: WarningProposal | None = None) -> list[Outgoing]:
    """Put the forum in activated mode, tied to the SMHI warning proposed for it (the `proposal` acted on, or one
    in force for the same event); answer every pending request for it."""
    now = ctx.clock.now()
    activation = await store.activate(ctx.session, forum.id, event=event, description=description, at=now,
                                      by=ctx.sender, by_function=by_function,
                                      request_id=request.id if request else None)
    linked = await warnings.link(ctx.session, forum.id, event, activation.id or 0, proposal)
    state = await store.forum_state(ctx.session, forum.id)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=by_function, action="activate",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"event": event, "description": description, "exercise": state.exercise,
                             "request": request.id if request else None,
                             "warning": linked.warning_key if linked else None})
    out = await activated_messages(ctx, forum, state, by_function, starts_at)
    if starts_at is None:  # a conference called for later plans the next one when it opens
        out += await rhythm.plan_next(ctx, forum, state, now)
    for pending in await store.pending_requests(ctx.session, forum.id):
        confirmed = model.same_event(pending.event, event)
        await store.answer_request(ctx.session, pending, status="confirmed" if confirmed else "closed",
                                   by=ctx.sender, at=now, reason=None if confirmed else event)
        key = "activation.request_confirmed" if confirmed else "activation.request_superseded"
        out.append(tell_requester(ctx, pending, Rich().text(ctx.t(key, forum=forum.name, event=event))))
    if forum.level == "inriktande" and not await any_coordinating_active(ctx):
        out.append(ctx.reply(Rich().text(ctx.t("activation.inriktande_first"))))
    return out


async def any_coordinating_active(ctx: Context) -> bool:
    for other in ctx.directory.settings.forums:
        if other.level == "samordnande" and (await store.forum_state(ctx.session, other.id)).active:
            return True
    return False


def tell_requester(ctx: Context, request: ActivationRequest, rich: Rich) -> Message:
    """A ping in the room the request came from, so the requester's phone shows the answer."""
    rich = Rich().pill(request.requested_by).text(": ").extend(rich)
    return Message(target=request.request_room, body=rich.plain, html=rich.html, ping=True,
                   mentions=(request.requested_by,), priority=PRIORITY_DIRECT)


async def file_request(ctx: Context, forum: Forum, event: str, description: str | None,
                       by_function: str) -> list[Outgoing]:
    for pending in await store.pending_requests(ctx.session, forum.id):
        if model.same_event(pending.event, event):
            return [ctx.reply(Rich().text(ctx.t("activation.already_requested", forum=forum.name, event=event)))]
    now = ctx.clock.now()
    request = await store.add_request(ctx.session, ActivationRequest(
        forum_id=forum.id, event=event, description=description, requested_at=now, requested_by=ctx.sender,
        requested_by_function=by_function, request_room=ctx.incoming.room_id))
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=by_function, action="request_activation",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"event": event, "request": request.id})
    conveners = model.conveners(ctx.directory, forum)
    people = await holders_of(ctx, [f.id for f in conveners])
    requester = ctx.directory.function(by_function).name
    ask = Rich().bold(ctx.t("activation.request_title", forum=forum.name, event=event)).br()
    ask.text(ctx.t("activation.request_how", forum_id=forum.id)).br()
    ask.text(ctx.t("activation.request_body", who=requester, sender=ctx.sender, event=event, forum_id=forum.id))
    if description:
        ask.br().text(description)
    ref = f"request:{request.id}"
    out = [*pings(forum.room, ask, people, ref), *rings(people, ask, ref)]
    names = ", ".join(f.name for f in conveners)
    out.append(ctx.reply(Rich().text(ctx.t("activation.request_sent", forum=forum.name, conveners=names))))
    return out


# ---- rooms that move ----


async def room_moved(ctx: Context, old: str, new: str, joined: bool) -> list[Outgoing]:
    """A forum's room was upgraded: its state follows to the new room, and the log room is told what to change
    in the configuration (the old id keeps working until then)."""
    forums = [f for f in ctx.directory.settings.forums if f.room == old or ctx.rooms.get(f.room) in (old, new)]
    if not forums:
        return []
    out: list[Outgoing] = []
    for forum in forums:
        out += room_state(ctx, forum, await store.forum_state(ctx.session, forum.id))
    names = ", ".join(f.name for f in forums)
    rich = Rich().text(ctx.t("room.moved", forums=names, old=old, new=new))
    if not joined:
        rich.br().text(ctx.t("room.moved_not_joined"))
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="room_moved",
                     forum_id=forums[0].id, detail={"old": old, "new": new, "joined": joined})
    return [*log_notice(ctx, rich), *out]


async def removed(ctx: Context, room_id: str, by: str, membership: str) -> list[Outgoing]:
    """The bot was kicked or banned from a configured room: the log room is told at once (health says so too)."""
    forums = [f.name for f in ctx.directory.settings.forums if room_id in (f.room, ctx.rooms.get(f.room))]
    homes = [o.name for o in ctx.directory.settings.organisations
             if o.home_room and room_id in (o.home_room, ctx.rooms.get(o.home_room))]
    what = ", ".join([*forums, *homes]) or room_id
    rich = Rich().text(ctx.t(f"room.removed.{membership}", room=what) + " ").pill(by)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=by, action=f"bot_{membership}",
                     detail={"room": room_id})
    log_room = ctx.directory.settings.bot.log_room
    if log_room and room_id in (log_room, ctx.rooms.get(log_room)):
        return []  # put out of the log room itself: health says so
    return log_notice(ctx, rich)
