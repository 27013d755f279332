"""!avslå <forum> [orsak…]: decline a pending activation request (a convener)."""

from __future__ import annotations

from bot.commands import converters
from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.flows.context import Context
from bot.flows.errors import NotAllowed, UserError
from bot.flows.forums import tell_requester
from bot.messages import Outgoing
from bot.state import forums as store
from bot.state import repo
from bot.texts.rich import Rich


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
