"""Forums formed for an event (seed 000: verkställande forums "bildas vid behov"): formed by whoever may
convene an activated forum, with a room the bot creates, activated for the same event at once, and
dissolved with !upplös or when the forum that formed it goes back to ordinary mode. They live in the
state database, not in the configuration; the running bot merges them into it (see `App`)."""

from __future__ import annotations

import json

from bot.domain.forums import ForumState
from bot.domain.model import Forum, Function
from bot.flows.context import Context
from bot.flows.forums import activate_now, deactivate
from bot.messages import Outgoing
from bot.state import formed as store
from bot.state import forums as forum_store
from bot.state import repo
from bot.state.models import FormedForum


def room_alias(ctx: Context, forum_id: str) -> str:
    """The alias the bot creates the room under: '#samverkan-vagar:example.org' for the bot @samverkan."""
    localpart, _, server = ctx.bot_user.removeprefix("@").partition(":")
    return f"#{localpart}-{forum_id}:{server}"


async def form(ctx: Context, parent: Forum, parent_state: ForumState, chair: Function, forum_id: str, name: str,
               level: str, functions: list[Function]) -> tuple[Forum, list[Outgoing]]:
    """Record the forum and activate it for the parent's event, which convenes its composition (the chair
    first) in its new room."""
    assert parent_state.event is not None
    now = ctx.clock.now()
    composition = list(dict.fromkeys([chair.id, *(f.id for f in functions)]))
    row = await store.add(ctx.session, FormedForum(
        forum_id=forum_id, name=name, level=level, parent_id=parent.id, event=parent_state.event, chair=chair.id,
        functions=json.dumps(composition), room=room_alias(ctx, forum_id), formed_by=ctx.sender, formed_at=now))
    forum = store.as_forum(row)
    if parent_state.exercise:
        await forum_store.set_exercise(ctx.session, forum.id, True)
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, function_id=chair.id, action="form_forum",
                     forum_id=forum.id, event_id=ctx.incoming.event_id,
                     detail={"parent": parent.id, "event": parent_state.event, "level": level,
                             "functions": composition, "room": forum.room})
    description = ctx.t("formed.description", parent=parent.name)
    return forum, await activate_now(ctx, forum, parent_state.event, description, chair.id)


async def end(ctx: Context, forum: Forum, state: ForumState, function: Function, *,
              reply: bool = True) -> list[Outgoing]:
    """A forum leaves activated mode: one formed for the event is dissolved, and so is every forum it formed
    (each told in its own room; the notice about this forum names them)."""
    children: list[Outgoing] = []
    names = []
    for child in await store.children(ctx.session, forum.id):
        formed = store.as_forum(child)
        children += await end(ctx, formed, await forum_store.forum_state(ctx.session, formed.id), function,
                              reply=False)
        names.append(formed.name)
    row = await store.living(ctx.session, forum.id)
    also = ctx.t("formed.dissolved_with", forums=", ".join(names)) if names else None
    out = await deactivate(ctx, forum, state, function, reply=reply, dissolved=row is not None, also=also)
    if row is not None:
        store.dissolve(ctx.session, row, at=ctx.clock.now(), by=ctx.sender)
    return [*out, *children]
