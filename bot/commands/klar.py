"""!klar <nummer> [kommentar]: an action's owner reports it carried out (seed 000: each actor's own
commitments are carried out and followed up)."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.messages import Outgoing
from bot.state import meetings as store
from bot.state import repo
from bot.texts.rich import Rich

MAX_COMMENT = 1000


@command("klar", en="done", args=(Arg("number_and_comment", rest=True, max_length=MAX_COMMENT + 20),),
         usage_override={"sv": "<nummer> [kommentar]", "en": "<number> [comment]"})
async def klar(ctx: Context, number_and_comment: str) -> list[Outgoing]:
    number, _, comment = number_and_comment.strip().lstrip("#").partition(" ")
    comment = comment.strip()
    if not number.isdecimal() or len(number) > 9:
        raise BadArgument("done.bad_number", given=number[:20])
    entry = await store.get_entry(ctx.session, int(number))
    if entry is None or entry.kind != "action" or entry.withdrawn_at is not None:
        raise UserError("done.no_action", number=number)
    owner = ctx.directory.function(entry.owner_function) if entry.owner_function else None
    # The sender's function in the responsible organisation, if any: the actor decides about its own action.
    acting = next((f for f in await ctx.held() if owner is not None and f.organisation == owner.organisation), None)
    if acting is None and entry.author != ctx.sender:
        raise NotAllowed("done.not_owner", action="action_done", forum_id=entry.forum_id,
                         owner=owner.name if owner else "—")
    if entry.done_at is not None:
        return [ctx.reply(Rich().text(ctx.t("done.already", number=entry.id, when=ctx.when(entry.done_at))))]
    now = ctx.clock.now()
    entry.done_at = now
    ctx.session.add(entry)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=acting.id if acting else None,
                     action="action_done", forum_id=entry.forum_id, event_id=ctx.incoming.event_id,
                     detail={"entry": entry.id, "comment": comment})
    rich = Rich().text(ctx.t("done.noted", number=entry.id, text=entry.text, owner=owner.name if owner else "—"))
    if comment:
        rich.br().text(comment)
    return [ctx.reply(rich)]
