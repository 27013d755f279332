"""!avaktivera <forum>: back to ordinary mode (a convener or the chair)."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain import forums as model
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.errors import NotAllowed
from bot.flows.forums import heading, log_notice, room_state, tell_requester
from bot.messages import Message, Outgoing
from bot.state import convocations, repo
from bot.state import forums as store
from bot.texts.rich import Rich


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
