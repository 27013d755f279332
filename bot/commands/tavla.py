"""!tavla [av | länk [tid] | länkar | återkalla N]: the forum's live board, in the forum's room.

`!tavla` (a convener or the chair) adds the board to the room as a widget pinned at the top, beside the room's
other widgets; `!tavla av` takes away only the board. `!tavla länk [12h]` (a convener) makes a link for a wall
screen where no Element runs, sent only by direct message and valid for the time asked (default from the
configuration, at most 7 days); `!tavla länkar` lists the links in force and `!tavla återkalla N` revokes one."""

from __future__ import annotations

import secrets
from datetime import timedelta

from bot.commands.registry import Arg, command
from bot.domain.model import Forum
from bot.domain.timeparse import parse_duration
from bot.flows.context import Context
from bot.flows.errors import BadArgument, NotAllowed, UserError
from bot.messages import LAYOUT_ENTRY, Message, Outgoing, StateUpdate, direct_target
from bot.state import board as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.state.models import BoardLink
from bot.texts.rich import Rich

WIDGETS = "im.vector.modular.widgets"
LAYOUT = "io.element.widgets.layout"
MAX_LINK = timedelta(days=7)
OFF, LINK, LINKS, REVOKE = ("av", "off"), ("länk", "lank", "link"), ("länkar", "lankar", "links"), \
    ("återkalla", "aterkalla", "revoke")


def widget_id(forum: Forum) -> str:
    return f"samverkan-board-{forum.id}"


@command("tavla", en="board", aliases=("lägestavla",), args=(Arg("board_args", optional=True, rest=True),),
         usage_override={"sv": "[av | länk [tid] | länkar | återkalla <nr>]",
                         "en": "[off | link [time] | links | revoke <no>]"})
async def tavla(ctx: Context, board_args: str | None) -> list[Outgoing]:
    settings = ctx.directory.settings.board
    if settings is None:
        raise UserError("board.not_configured")
    forum = ctx.forum_here()
    if forum is None:
        raise UserError("board.in_forum_room")
    words = (board_args or "").split()
    sub = words[0].lower() if words else ""
    state = await forum_store.forum_state(ctx.session, forum.id)
    who = await ctx.authority(forum, state)
    if sub in LINK + LINKS + REVOKE:
        if who.convener is None:
            raise NotAllowed("board.conveners_only", action=f"board_{sub}", forum_id=forum.id, forum=forum.name)
        if sub in LINK:
            return await _link(ctx, forum, words[1:], settings.public_url, settings.link_valid)
        if sub in LINKS:
            return await _links(ctx, forum)
        return await _revoke(ctx, forum, words[1:])
    if who.convener is None and who.chair is None:
        raise NotAllowed("board.conveners_or_chair", action="board", forum_id=forum.id, forum=forum.name)
    if sub in OFF:
        await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="board_off", forum_id=forum.id)
        return [StateUpdate(forum.room, WIDGETS, {}, state_key=widget_id(forum)),
                StateUpdate(forum.room, LAYOUT, {LAYOUT_ENTRY: {"id": widget_id(forum), "entry": None}}),
                ctx.reply(Rich().text(ctx.t("board.removed", forum=forum.name)))]
    if sub:
        raise BadArgument("error.extra_args", extra=" ".join(words))
    url = (f"{settings.public_url}/board/#/?widgetId=$matrix_widget_id&roomId=$matrix_room_id"
           f"&userId=$matrix_user_id&lang={ctx.lang}")
    widget = {"type": "m.custom", "url": url, "name": ctx.t("board.name", forum=forum.name), "id": widget_id(forum),
              "creatorUserId": ctx.bot_user, "data": {"title": forum.name}}
    layout = {LAYOUT_ENTRY: {"id": widget_id(forum),
                             "entry": {"container": "top", "index": 0, "width": 100, "height": 45}}}
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="board_on", forum_id=forum.id)
    return [StateUpdate(forum.room, WIDGETS, widget, state_key=widget_id(forum)),
            StateUpdate(forum.room, LAYOUT, layout),
            ctx.reply(Rich().text(ctx.t("board.added", forum=forum.name)))]


async def _link(ctx: Context, forum: Forum, words: list[str], public_url: str, default: timedelta) -> list[Outgoing]:
    valid = default
    if words:
        try:
            valid = parse_duration(words[0])
        except ValueError:
            raise BadArgument("board.bad_time", time=words[0][:20]) from None
    if not timedelta(minutes=5) <= valid <= MAX_LINK:
        raise BadArgument("board.bad_time", time=words[0][:20] if words else str(valid))
    secret = secrets.token_urlsafe(24)
    now = ctx.clock.now()
    link = await store.add_link(ctx.session, BoardLink(forum_id=forum.id, secret_hash=store.digest(secret),
                                                       created_by=ctx.sender, created_at=now, expires_at=now + valid))
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, action="board_link", forum_id=forum.id,
                     detail={"link": link.id, "expires": link.expires_at.isoformat()})
    until = ctx.when(link.expires_at)
    url = f"{public_url}/board/#link={secret}&lang={ctx.lang}"
    private = Rich().text(ctx.t("board.link", number=link.id, forum=forum.name, until=until)).br().link(url, url)
    return [Message(target=direct_target(ctx.sender), body=private.plain, html=private.html),
            ctx.reply(Rich().text(ctx.t("board.link_sent", number=link.id, until=until)))]


async def _links(ctx: Context, forum: Forum) -> list[Outgoing]:
    found = await store.links(ctx.session, forum.id, ctx.clock.now())
    rich = Rich().bold(ctx.t("board.links", forum=forum.name))
    for link in found:
        rich.item().text(ctx.t("board.link_line", number=link.id, who=link.created_by, until=ctx.when(link.expires_at)))
    if not found:
        rich.br().text(ctx.t("board.no_links"))
    return [ctx.reply(rich)]


async def _revoke(ctx: Context, forum: Forum, words: list[str]) -> list[Outgoing]:
    number = words[0].lstrip("#") if words else ""
    link = await store.get(ctx.session, int(number)) if number.isdigit() else None
    if link is None or link.forum_id != forum.id:
        raise BadArgument("board.no_such_link", number=number[:10] or "?")
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = ctx.clock.now(), ctx.sender
        ctx.session.add(link)
        await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="board_revoke", forum_id=forum.id,
                         detail={"link": link.id})
    return [ctx.reply(Rich().text(ctx.t("board.revoked", number=link.id)))]
