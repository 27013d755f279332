"""Pinned identities: the cross-signing master key the bot trusts for a person.

The same model as Element's "identity was reset" warning (matrix-rust-sdk's pinned identities and
verification violations, MSC4153): a password is enough to replace an account's cross-signing keys,
so a new master key proves only that someone had the password. Until an administrator approves the
new key, the person's state-changing commands and ✅ are refused; a key that changes back to the
pinned one is trusted again, as it always was.

The first identity is trusted at once only when the bot pinned it ahead of time, from a key query before
the person wrote (at the bot's start, or when it came to share an encrypted room with them), whatever key
the homeserver served then, or that it served none. An identity that first shows with the person's own
command or ✅, or that appears on an account that had none when the bot looked, is as new as a reset one: a
password is enough to create an account's first cross-signing keys too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

NONE = ""  # the pinned key of a person who had no identity when the bot first looked


@dataclass(frozen=True)
class Pin:
    """What the bot holds of one person's identity."""

    user_id: str
    pinned: str  # the master key trusted; NONE while none is
    seen: str  # the master key the homeserver served last; NONE if it served none
    changed_at: datetime | None = None  # when `seen` first moved away from `pinned`; None while they agree

    @property
    def changed(self) -> bool:
        return self.seen != self.pinned

    @property
    def first(self) -> bool:
        """Whether no identity was ever trusted for the person: a new one is their first."""
        return self.pinned == NONE


def pin_ahead(user_id: str, key: str | None) -> Pin:
    """The pin made from a key query before the person wrote: the key served then, or none, is trusted."""
    return Pin(user_id, pinned=key or NONE, seen=key or NONE)


def observe(pin: Pin | None, user_id: str, key: str, now: datetime) -> tuple[Pin, bool]:
    """The pin after the homeserver served `key` with one of the person's events, and whether the log room is
    to be told (a key never seen before that is not the pinned one: each change is told once). A person with
    no pin yet shows their identity first with their own event: it waits for approval like a changed one."""
    if pin is None:
        return Pin(user_id, pinned=NONE, seen=key, changed_at=now), True
    if key == pin.seen:
        return pin, False
    if key == pin.pinned:
        return replace(pin, seen=key, changed_at=None), False
    return replace(pin, seen=key, changed_at=now), True


def trusted(pin: Pin | None, key: str) -> bool:
    """Whether `key` is the person's trusted identity (never one the bot has not pinned)."""
    return pin is not None and key != NONE and key == pin.pinned


def fingerprint(key: str) -> str:
    """A master key as people read it out and compare it: in groups of four characters."""
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


def same_key(typed: str, key: str) -> bool:
    """Whether what an administrator typed is `key`, whitespace aside (the whole key, not a part of it)."""
    return key != NONE and "".join(typed.split()) == key


def approve(pin: Pin, typed: str) -> Pin | None:
    """The pin with the key now served trusted, if that is the key the administrator names; None if there is
    nothing to approve or another key waits (a newer reset came in between)."""
    if not pin.changed or pin.seen == NONE or not same_key(typed, pin.seen):
        return None
    return replace(pin, pinned=pin.seen, changed_at=None)
