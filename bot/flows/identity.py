"""Pinned identities as the dispatcher and `!identitet` use them: note the master key a person's events
come with, judge whether it is the trusted one, and approve a new one."""

from __future__ import annotations

from enum import Enum

from bot.domain import identity
from bot.domain.identity import Pin
from bot.flows.context import Context
from bot.messages import Message, Outgoing
from bot.state import identities as store
from bot.state import repo
from bot.texts.rich import Rich


async def observe(ctx: Context, user_id: str, key: str) -> list[Outgoing]:
    """Keep the key the homeserver serves for `user_id`; a new one (the person's first identity, or a changed
    one) is audited and told to the log room once, with its fingerprint."""
    now = ctx.clock.now()
    before = await store.get(ctx.session, user_id)
    pin, tell = identity.observe(before, user_id, key, now)
    await store.put(ctx.session, pin, now)
    if not tell:
        return []
    first = pin.first
    await repo.audit(ctx.session, at=now, user_id=user_id, action="identity:first" if first else "identity:changed",
                     allowed=False, event_id=ctx.incoming.event_id,
                     detail={"reason": "error.identity_new" if first else "error.identity_changed",
                             "pinned": pin.pinned or None, "seen": pin.seen})
    log_room = ctx.directory.settings.bot.log_room
    if not log_room:
        return []
    rich = Rich().text(ctx.t("identity.first" if first else "identity.changed", user=user_id, when=ctx.when(now),
                             fingerprint=identity.fingerprint(pin.seen)))
    return [Message(target=log_room, body=rich.plain, html=rich.html)]


async def trusted(ctx: Context, user_id: str, key: str) -> bool:
    """Whether `key` is the identity the bot trusts for `user_id`."""
    return identity.trusted(await store.get(ctx.session, user_id), key)


async def waits_first(ctx: Context, user_id: str) -> bool:
    """Whether the identity waiting for `user_id` is the person's first (no identity was trusted before)."""
    pin = await store.get(ctx.session, user_id)
    return pin is None or pin.first


class Approval(Enum):
    APPROVED = "approved"
    NOTHING = "nothing"  # no pin, or nothing waits
    OTHER_KEY = "other_key"  # another key waits than the one named: a newer reset came in between


async def approve(ctx: Context, user_id: str, typed: str) -> tuple[Approval, Pin | None]:
    """Trust the key now served for `user_id` if it is the one named by `typed`; audited whatever comes of it.
    Returns what came of it and the pin as it is now."""
    now = ctx.clock.now()
    pin = await store.get(ctx.session, user_id)
    approved = identity.approve(pin, typed) if pin is not None else None
    if approved is not None:
        await store.put(ctx.session, approved, now, approved_by=ctx.sender)
        await repo.audit(ctx.session, at=now, user_id=ctx.sender, action="identity:approve",
                         event_id=ctx.incoming.event_id, detail={"user": user_id, "key": approved.pinned})
        return Approval.APPROVED, approved
    outcome = Approval.OTHER_KEY if pin is not None and pin.changed and pin.seen else Approval.NOTHING
    await repo.audit(ctx.session, at=now, user_id=ctx.sender, action="identity:approve", allowed=False,
                     event_id=ctx.incoming.event_id,
                     detail={"reason": f"identity.{outcome.value}", "user": user_id, "named": "".join(typed.split()),
                             "waiting": pin.seen if outcome is Approval.OTHER_KEY and pin is not None else None})
    return outcome, pin


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
