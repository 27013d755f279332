"""!klar <nummer> [kommentar]: an action's owner reports it carried out (seed 000: each actor's own
commitments are carried out and followed up)."""

from __future__ import annotations

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.meetings import owned_action
from bot.messages import Outgoing
from bot.state import repo
from bot.texts.rich import Rich

MAX_COMMENT = 1000


@command("klar", en="done", args=(Arg("number_and_comment", rest=True, max_length=MAX_COMMENT + 20),),
         usage_override={"sv": "<nummer> [kommentar]", "en": "<number> [comment]"})
async def klar(ctx: Context, number_and_comment: str) -> list[Outgoing]:
    number, _, comment = number_and_comment.strip().lstrip("#").partition(" ")
    comment = comment.strip()
    entry, acting = await owned_action(ctx, number, "done.not_owner", "action_done")
    owner = ctx.directory.function(entry.owner_function).name if entry.owner_function else "—"
    if entry.done_at is not None:
        return [ctx.reply(Rich().text(ctx.t("done.already", number=entry.id, when=ctx.when(entry.done_at))))]
    now = ctx.clock.now()
    entry.done_at = now
    ctx.session.add(entry)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=acting.id if acting else None,
                     action="action_done", forum_id=entry.forum_id, event_id=ctx.incoming.event_id,
                     detail={"entry": entry.id, "comment": comment})
    rich = Rich().text(ctx.t("done.noted", number=entry.id, text=entry.text, owner=owner))
    if comment:
        rich.br().text(comment)
    return [ctx.reply(rich)]
