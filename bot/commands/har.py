"""!här [ersättare]: mark your function present in the open meeting (a ✅ on the roll call does the same)."""

from __future__ import annotations

from bot.commands.registry import Arg, command, on_reaction
from bot.domain.names import normalise
from bot.flows.context import Context
from bot.flows.meetings import mark_present, require_open, which_forum
from bot.messages import Message, Outgoing, direct_target
from bot.state import meetings as store
from bot.texts.rich import Rich

DEPUTY_WORDS = {"ersattare", "deputy"}


@command("här", en="here", aliases=("har", "närvarande"), args=(Arg("deputy", optional=True, rest=True),))
async def har(ctx: Context, deputy: str | None) -> list[Outgoing]:
    forum = which_forum(ctx, None)
    meeting = await require_open(ctx, forum)
    marked = await mark_present(ctx, forum, meeting, bool(deputy) and normalise(deputy or "") in DEPUTY_WORDS)
    if not marked:
        return [ctx.reply(Rich().text(ctx.t("rollcall.nothing", name=meeting.name)))]
    names = ", ".join(ctx.directory.function(f).name for f in marked)
    return [ctx.reply(Rich().text(ctx.t("rollcall.present", functions=names)))]


@on_reaction("rollcall")
async def present_by_reaction(ctx: Context, value: str) -> list[Outgoing]:
    meeting = await store.get(ctx.session, int(value))
    if meeting is None or meeting.status != "open":
        return []
    marked = await mark_present(ctx, ctx.directory.forum(meeting.forum_id), meeting, False)
    if not marked:
        return []
    names = ", ".join(ctx.directory.function(f).name for f in marked)
    rich = Rich().text(ctx.t("rollcall.present", functions=names))
    return [Message(target=direct_target(ctx.sender), body=rich.plain, html=rich.html)]
