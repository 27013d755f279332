"""!export [forum | händelse]: the record of an event for the registry and the evaluation, as files."""

from __future__ import annotations

from dataclasses import replace

from bot.commands.registry import Arg, command
from bot.flows.context import Context
from bot.flows.errors import BadArgument, UserError
from bot.flows.record import event_record
from bot.messages import Outgoing
from bot.state import forums as forum_store
from bot.texts.rich import Rich


@command("export", en="export", aliases=("dokumentation", "record"),
         args=(Arg("forum_or_event", optional=True, rest=True, max_length=200),), reads_only=True)
async def export(ctx: Context, forum_or_event: str | None) -> list[Outgoing]:
    forum = ctx.directory.forums.get(forum_or_event) if forum_or_event else ctx.forum_here()
    if forum is not None:  # the forum's current or latest activation
        latest = await forum_store.history(ctx.session, forum.id, limit=1)
        if not latest:
            raise UserError("record.never_activated", forum=forum.name)
        event = latest[0].event
    elif forum_or_event:
        event = forum_or_event
    else:
        raise BadArgument("record.which")
    record = await event_record(ctx, event)
    if record is None:
        raise UserError("record.unknown_event", event=event)
    html, data = record.files()
    text = ctx.t("record.attached", event=record.event, **record.counts)
    return [replace(ctx.reply(Rich().text(text)), attachment=html),
            replace(ctx.reply(Rich().text(ctx.t("record.json"))), attachment=data)]
