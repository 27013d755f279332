"""!aktivera, !avaktivera, !avslå: activating a forum for an event, and going back to ordinary.

A convener activates at once; any other member files a request that pings the conveners,
who confirm (with !aktivera or a ✅ on the request) or decline with a reason.
"""

from __future__ import annotations

from dataclasses import replace

from bot.commands import converters
from bot.commands.context import Context
from bot.commands.convene import convene, pings, rings
from bot.commands.errors import BadArgument, NotAllowed, UserError
from bot.commands.registry import Arg, command, on_reaction
from bot.config import Forum
from bot.domain import forums as model
from bot.domain.forums import Activation, ForumState
from bot.messages import PRIORITY_DIRECT, TOPIC_PREFIX, UNPIN, Message, Outgoing, StateUpdate
from bot.state import convocations, repo
from bot.state import forums as store
from bot.state.models import ActivationRequest
from bot.texts.rich import Rich

FORUM_STATE_EVENT = "se.samverkan.forum"
REPLACE_FLAGS = ("--ny", "--new")


def heading(ctx: Context, state: ForumState) -> Rich:
    """Every message about a forum in exercise mode starts with ÖVNING."""
    rich = Rich()
    if state.exercise:
        rich.bold(ctx.t("status.exercise")).text(" ")
    return rich


def room_state(ctx: Context, forum: Forum, state: ForumState) -> list[Outgoing]:
    """The topic people see, and the same facts machine-readably."""
    labels = {"activated": ctx.t("status.mode.activated"), "ordinary": ctx.t("status.mode.ordinary"),
              "since": ctx.t("status.since"), "exercise": ctx.t("status.exercise"), "months": ctx.t("months")}
    prefix = model.topic_prefix(state, ctx.tz, labels)
    machine = {"forum": forum.id, "level": forum.level, "mode": state.mode, "event": state.event,
               "description": state.description, "since": state.since.isoformat() if state.since else None,
               "activated_by": state.activated_by, "exercise": state.exercise}
    return [StateUpdate(forum.room, "m.room.topic", {TOPIC_PREFIX: prefix}),
            *([] if state.active else [StateUpdate(forum.room, "m.room.pinned_events", {UNPIN: True})]),
            StateUpdate(forum.room, FORUM_STATE_EVENT, machine, state_key=forum.id)]


def log_notice(ctx: Context, rich: Rich) -> list[Outgoing]:
    log_room = ctx.directory.settings.bot.log_room
    return [Message(target=log_room, body=rich.plain, html=rich.html)] if log_room else []


async def holders_of(ctx: Context, function_ids: list[str]) -> list[str]:
    """The people on duty now for these functions, once each."""
    roster = await ctx.roster()
    now = ctx.clock.now()
    return list(dict.fromkeys(user for f in function_ids for user in roster.holders(f, now)))


async def activated_messages(ctx: Context, forum: Forum, state: ForumState, by_function: str | None) -> list[Outgoing]:
    """The convocation of the activated composition, the log line and the room state."""
    who = ctx.directory.function(by_function).name if by_function else ctx.sender
    announce = Rich().text(ctx.t("activation.announce", event=state.event or "", who=who, sender=ctx.sender,
                                 when=ctx.when(state.since or ctx.clock.now())))
    if state.description:
        announce.br().text(state.description)
    convocation = await convene(ctx, forum, state, kind="activation", intro=announce)
    pings = [i for i, m in enumerate(convocation) if isinstance(m, Message) and m.ping and m.target == forum.room]
    if pings:  # the activation stays in view as a pinned banner until deactivation
        first = convocation[pings[0]]
        assert isinstance(first, Message)
        convocation[pings[0]] = replace(first, pin=True)
    log_line = heading(ctx, state).text(ctx.t("activation.log", forum=forum.name, event=state.event or "",
                                              who=who, sender=ctx.sender, when=ctx.when(ctx.clock.now())))
    return [*convocation, *log_notice(ctx, log_line), *room_state(ctx, forum, state)]


async def activate_now(ctx: Context, forum: Forum, event: str, description: str | None,
                       by_function: str | None, request: ActivationRequest | None = None) -> list[Outgoing]:
    """Put the forum in activated mode; answer every pending request for it."""
    now = ctx.clock.now()
    await store.activate(ctx.session, forum.id, event=event, description=description, at=now, by=ctx.sender,
                         by_function=by_function, request_id=request.id if request else None)
    state = await store.forum_state(ctx.session, forum.id)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=by_function, action="activate",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"event": event, "description": description, "exercise": state.exercise,
                             "request": request.id if request else None})
    out = await activated_messages(ctx, forum, state, by_function)
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
    ask = Rich().bold(ctx.t("activation.request_title", forum=forum.name)).br().text(
        ctx.t("activation.request_body", who=requester, sender=ctx.sender, event=event, forum_id=forum.id))
    if description:
        ask.br().text(description)
    ref = f"request:{request.id}"
    out = [*pings(forum.room, ask, people, ref), *rings(people, ask, ref)]
    names = ", ".join(f.name for f in conveners)
    out.append(ctx.reply(Rich().text(ctx.t("activation.request_sent", forum=forum.name, conveners=names))))
    return out


@command("aktivera", en="activate", args=(Arg("forum", converters.forum), Arg("event", rest=True, max_length=150)))
async def aktivera(ctx: Context, forum: Forum, event: str) -> list[Outgoing]:
    words = event.split()
    replace = any(w.lower() in REPLACE_FLAGS for w in words)
    text = " ".join(w for w in words if w.lower() not in REPLACE_FLAGS)
    if not text:
        raise BadArgument("error.missing_arg", arg=ctx.t("arg.event"))
    if len(text) > model.MAX_EVENT:
        raise BadArgument("error.too_long", arg=ctx.t("arg.event"), limit=model.MAX_EVENT)
    name, description = model.split_event(text)
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    decision = model.decide_activation(state, who, name, replace)
    if decision is Activation.REFUSED:
        raise NotAllowed("activation.refused", action="activate", forum_id=forum.id, forum=forum.name)
    if decision is Activation.ALREADY_ACTIVE:
        return [ctx.reply(Rich().text(ctx.t("activation.already_active", forum=forum.name, event=state.event,
                                            when=ctx.when(state.since or ctx.clock.now()))))]
    if decision is Activation.NEEDS_NEW:
        return [ctx.reply(Rich().text(ctx.t("activation.needs_new", forum=forum.name, event=state.event,
                                            forum_id=forum.id, new=name)))]
    if decision is Activation.REQUEST:
        function = who.member or who.chair
        assert function is not None
        return await file_request(ctx, forum, name, description, function.id)
    assert who.convener is not None
    out = await activate_now(ctx, forum, name, description, who.convener.id)
    done = heading(ctx, state).text(ctx.t("activation.done", forum=forum.name, event=name))
    return [ctx.reply(done), *out]


@on_reaction("request")
async def confirm_by_reaction(ctx: Context, value: str) -> list[Outgoing]:
    """A convener's ✅ on an activation request confirms it."""
    request = await store.get_request(ctx.session, int(value))
    if request is None or request.status != "pending":
        return []
    forum = ctx.directory.forum(request.forum_id)
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if who.convener is None:
        return []
    return await activate_now(ctx, forum, request.event, request.description, who.convener.id, request)


@command("avaktivera", en="deactivate", args=(Arg("forum", converters.forum),))
async def avaktivera(ctx: Context, forum: Forum) -> list[Outgoing]:
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if not model.may_deactivate(who):
        raise NotAllowed("activation.deactivate_refused", action="deactivate", forum_id=forum.id, forum=forum.name)
    if not state.active:
        return [ctx.reply(Rich().text(ctx.t("activation.not_active", forum=forum.name)))]
    now = ctx.clock.now()
    function = who.convener or who.chair
    assert function is not None
    await store.deactivate(ctx.session, forum.id, at=now, by=ctx.sender)
    await convocations.stop_escalations(ctx.session, forum.id)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=function.id, action="deactivate",
                     forum_id=forum.id, event_id=ctx.incoming.event_id, detail={"event": state.event})
    after = await store.forum_state(ctx.session, forum.id)
    notice = heading(ctx, after).text(ctx.t("activation.deactivated", forum=forum.name, event=state.event,
                                            who=function.name, sender=ctx.sender, when=ctx.when(now)))
    out: list[Outgoing] = [ctx.reply(notice)]
    if ctx.forum_here() is not forum:
        out.append(Message(target=forum.room, body=notice.plain, html=notice.html))
    out += log_notice(ctx, notice)
    out += room_state(ctx, forum, after)
    for pending in await store.pending_requests(ctx.session, forum.id):
        await store.answer_request(ctx.session, pending, status="closed", by=ctx.sender, at=now,
                                   reason="deactivated")
        out.append(tell_requester(ctx, pending, Rich().text(ctx.t("activation.request_closed", forum=forum.name))))
    return out


@command("avslå", en="decline", aliases=("avsla",),
         args=(Arg("forum", converters.forum), Arg("reason", optional=True, rest=True, max_length=500)))
async def avsla(ctx: Context, forum: Forum, reason: str | None) -> list[Outgoing]:
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if who.convener is None:
        raise NotAllowed("activation.decline_refused", action="decline", forum_id=forum.id, forum=forum.name)
    pending = await store.pending_requests(ctx.session, forum.id)
    if not pending:
        raise UserError("activation.no_request", forum=forum.name)
    request = pending[-1]
    now = ctx.clock.now()
    await store.answer_request(ctx.session, request, status="declined", by=ctx.sender, at=now, reason=reason)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=who.convener.id, action="decline",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"request": request.id, "reason": reason})
    told = Rich().text(ctx.t("activation.request_declined", forum=forum.name, event=request.event,
                             who=who.convener.name, reason=reason or "—"))
    return [ctx.reply(Rich().text(ctx.t("activation.declined_ok", event=request.event))),
            tell_requester(ctx, request, told)]
