"""Pinned identities as the dispatcher and `!identitet` use them: note the master key a person's events
come with, judge whether it is the trusted one, and approve a new one."""

from __future__ import annotations

from bot.domain import identity
from bot.domain.identity import Pin
from bot.flows.context import Context
from bot.messages import Message, Outgoing
from bot.state import identities as store
from bot.state import repo
from bot.texts.rich import Rich


async def observe(ctx: Context, user_id: str, key: str) -> list[Outgoing]:
    """Keep the key the homeserver serves for `user_id`; a new one is audited and told to the log room once."""
    now = ctx.clock.now()
    pin, tell = identity.observe(await store.get(ctx.session, user_id), user_id, key, now)
    await store.put(ctx.session, pin, now)
    if not tell:
        return []
    await repo.audit(ctx.session, at=now, user_id=user_id, action="identity:changed", allowed=False,
                     event_id=ctx.incoming.event_id, detail={"pinned": pin.pinned, "seen": pin.seen})
    log_room = ctx.directory.settings.bot.log_room
    if not log_room:
        return []
    rich = Rich().text(ctx.t("identity.changed", user=user_id, when=ctx.when(now)))
    return [Message(target=log_room, body=rich.plain, html=rich.html)]


async def trusted(ctx: Context, user_id: str, key: str) -> bool:
    """Whether `key` is the identity the bot trusts for `user_id`."""
    return identity.trusted(await store.get(ctx.session, user_id), key)


async def approve(ctx: Context, user_id: str) -> Pin | None:
    """Trust the key now served for `user_id` (audited); None if it has not changed."""
    pin = await store.get(ctx.session, user_id)
    approved = identity.approve(pin) if pin is not None else None
    if approved is None:
        return None
    await store.put(ctx.session, approved, ctx.clock.now(), approved_by=ctx.sender)
    await repo.audit(ctx.session, at=ctx.clock.now(), user_id=ctx.sender, action="identity:approve",
                     event_id=ctx.incoming.event_id, detail={"user": user_id, "key": approved.pinned})
    return approved


async def direct_shared(ctx: Context, person: str, room_id: str, other: str, by: str) -> list[Outgoing]:
    """Someone besides the person was let into the person's direct room, which the bot has left: audited, and
    the log room told once (the caller runs this once per room)."""
    now = ctx.clock.now()
    await repo.audit(ctx.session, at=now, user_id=by or other, action="direct_room:shared", allowed=False,
                     detail={"reason": "error.direct_room_shared", "person": person, "room": room_id,
                             "member": other})
    log_room = ctx.directory.settings.bot.log_room
    if not log_room:
        return []
    rich = Rich().text(ctx.t("identity.direct_shared", user=person, other=other, when=ctx.when(now)))
    return [Message(target=log_room, body=rich.plain, html=rich.html)]
