"""!aktivera <forum> <händelse…> [tid] [ny]: activate a forum for an event, now, with the conference now
or at a time (`kl 16:00`, `om 2h`, `i morgon 08:00`: scene 3); `ny` last replaces the event.

A convener activates at once; anyone else who holds a function of the model, in the forum or
outside it, files a request that pings the conveners, who confirm (with !aktivera or a ✅ on the
request) or decline with !avslå."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command, on_reaction
from bot.domain import forums as model
from bot.domain.forums import Activation
from bot.domain.model import Forum
from bot.domain.timeparse import TIME_EXAMPLES, time_at_end
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed
from bot.flows.forums import activate_now, file_request, heading
from bot.flows.warnings import REF, answered, headline
from bot.messages import Outgoing
from bot.state import forums as store
from bot.state import warnings as warning_store
from bot.texts.rich import Rich

REPLACE_WORDS = ("ny", "new")  # last word; phones turn "--ny" into "—ny", so dashes are ignored


def _replace(words: list[str]) -> tuple[bool, list[str]]:
    """'storm ny' or 'storm --ny' -> (True, ['storm'])."""
    if len(words) > 1 and words[-1].lower().lstrip("-—–") in REPLACE_WORDS:
        return True, words[:-1]
    flagged = [w for w in words if w.lower() in ("--ny", "--new")]
    return bool(flagged), [w for w in words if w not in flagged]


@command("aktivera", en="activate", args=(Arg("forum", converters.forum), Arg("event", rest=True, max_length=150)))
async def aktivera(ctx: Context, forum: Forum, event: str) -> list[Outgoing]:
    replace, words = _replace(event.split())
    now = ctx.clock.now()
    starts_at, words, unreadable = time_at_end(words, now, ctx.tz)
    if unreadable is not None:  # 'kl 25:99' is a mistake, never part of the event's name
        raise BadArgument("kalla.bad_time", time=unreadable, examples=TIME_EXAMPLES)
    if starts_at is not None and starts_at < now:
        raise BadArgument("kalla.past", when=ctx.when(starts_at), examples=TIME_EXAMPLES)
    text = " ".join(words)
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
        function = who.member or who.chair or who.actor
        assert function is not None
        if starts_at is not None:  # the time asked for goes with the request, for the convener to see
            wanted = ctx.t("activation.conference_at", when=ctx.when(starts_at))
            description = f"{description} ({wanted})" if description else wanted
        return await file_request(ctx, forum, name, description, function.id)
    assert who.convener is not None
    out = await activate_now(ctx, forum, name, description, who.convener.id, starts_at=starts_at)
    out += await answered(ctx, (await store.forum_state(ctx.session, forum.id)).activation_id)
    done = heading(ctx, state).text(ctx.t("activation.done", forum=forum.name, event=name))
    if starts_at is not None:
        done.text(" " + ctx.t("activation.conference_at", when=ctx.when(starts_at)))
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
    out = await activate_now(ctx, forum, request.event, request.description, who.convener.id, request)
    return out + await answered(ctx, (await store.forum_state(ctx.session, forum.id)).activation_id)


@on_reaction(REF)
async def activate_by_reaction_to_warning(ctx: Context, value: str) -> list[Outgoing]:
    """A ✅ on an SMHI warning's proposal by someone who may convene the forum activates it for the proposed event,
    exactly as `!aktivera` would; anyone else is told why not."""
    proposal = await warning_store.proposal(ctx.session, int(value))
    warning = await warning_store.get(ctx.session, proposal.warning_key) if proposal else None
    if proposal is None or warning is None or ctx.directory.forums.get(proposal.forum_id) is None:
        return []
    forum = ctx.directory.forum(proposal.forum_id)
    state = await store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if who.convener is None:
        conveners = " / ".join(f.name for f in model.conveners(ctx.directory, forum))
        raise NotAllowed("warnings.not_convener", action="activate", forum_id=forum.id, forum=forum.name,
                         conveners=conveners, id=forum.id, event=proposal.event)
    if warning.gone_at is not None:
        return [ctx.reply(Rich().text(ctx.t("warnings.gone_now", forum=forum.name, forum_id=forum.id,
                                            event=proposal.event)))]
    if state.active:
        return [ctx.reply(Rich().text(ctx.t("activation.already_active", forum=forum.name, event=state.event,
                                            when=ctx.when(state.since or ctx.clock.now()))))]
    description = headline(ctx, warning_store.as_item(warning))
    out = await activate_now(ctx, forum, proposal.event, description, who.convener.id, proposal=proposal)
    return out + await answered(ctx, proposal.activation_id)
