"""Pinned identities: the first cross-signing master key the bot sees for a person is the one it trusts.

The same model as Element's "identity was reset" warning (matrix-rust-sdk's pinned identities and
verification violations, MSC4153): a password is enough to replace an account's cross-signing keys,
so a new master key proves only that someone had the password. Until an administrator approves the
new key, the person's state-changing commands and ✅ are refused; a key that changes back to the
pinned one is trusted again, as it always was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Pin:
    """What the bot holds of one person's identity."""

    user_id: str
    pinned: str  # the master key trusted
    seen: str  # the master key the homeserver served last
    changed_at: datetime | None = None  # when `seen` first moved away from `pinned`; None while they agree

    @property
    def changed(self) -> bool:
        return self.seen != self.pinned


def observe(pin: Pin | None, user_id: str, key: str, now: datetime) -> tuple[Pin, bool]:
    """The pin after the homeserver served `key`, and whether the log room is to be told (a key never seen
    before that is not the pinned one: each change is told once)."""
    if pin is None:
        return Pin(user_id, pinned=key, seen=key), False
    if key == pin.seen:
        return pin, False
    if key == pin.pinned:
        return replace(pin, seen=key, changed_at=None), False
    return replace(pin, seen=key, changed_at=now), True


def trusted(pin: Pin | None, key: str) -> bool:
    """Whether `key` is the person's trusted identity (a person seen for the first time has pinned it now)."""
    return pin is None or key == pin.pinned


def approve(pin: Pin) -> Pin | None:
    """The pin with the key now served trusted, or None if there is nothing to approve."""
    if not pin.changed:
        return None
    return replace(pin, pinned=pin.seen, changed_at=None)
