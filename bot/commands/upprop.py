"""!upprop: roll call of the open meeting by organisation and function; !här (or ✅ on the roll
call) marks the sender's function present, as a deputy where that is what they are.
"""

from __future__ import annotations

from bot.commands.context import Context
from bot.commands.mote import require_open, which_forum
from bot.commands.registry import Arg, command, on_reaction
from bot.config import Forum
from bot.domain.names import normalise
from bot.messages import Message, Outgoing, direct_target
from bot.state import convocations as conv_store
from bot.state import forums as forum_store
from bot.state import meetings as store
from bot.state.models import MeetingRow
from bot.texts.rich import Rich

DEPUTY_WORDS = {"ersattare", "deputy"}


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
    return rich


@command("upprop", en="rollcall", args=(Arg("forum", optional=True, rest=True),))
async def upprop(ctx: Context, forum: str | None) -> list[Outgoing]:
    chosen = which_forum(ctx, ctx.directory.forums.get(forum) if forum else None)
    meeting = await require_open(ctx, chosen)
    rich = await roll_call_text(ctx, chosen, meeting)
    here = ctx.forum_here() is chosen
    return [Message(target=ctx.incoming.room_id if here else chosen.room, body=rich.plain, html=rich.html,
                    ref=f"rollcall:{meeting.id}", reply_to=ctx.incoming.event_id if here else None)]


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
