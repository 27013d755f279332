"""A pinned identity's life (first seen → changed → approved, or changed back), as a state machine: whatever
order the homeserver serves keys in and administrators approve them, only the pinned key is trusted, the
pin moves only by approval, and each change is told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.domain import identity
from bot.domain.identity import Pin

USER = "@tib:example.org"
KEYS = st.sampled_from(["A", "B", "C", "D"])


class PinnedIdentity(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pin: Pin | None = None
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
        self.first: str | None = None  # the first key ever served
        self.approved: list[str] = []  # keys administrators approved, in order
        self.told = 0  # log room messages
        self.changes = 0  # times the served key moved to one neither pinned nor served just before

    @rule(key=KEYS)
    def served(self, key: str) -> None:
        self.now += timedelta(minutes=1)
        before = self.pin
        self.pin, tell = identity.observe(self.pin, USER, key, self.now)
        if before is None:
            self.first = key
            assert not tell, "the first key is pinned silently"
        elif key not in (before.seen, before.pinned):
            self.changes += 1
            assert tell and self.pin.changed_at == self.now
        else:
            assert not tell, "a key already told, or the pinned one, is not told again"
        self.told += tell
        assert identity.trusted(self.pin, key) == (key == self.pin.pinned)

    @precondition(lambda self: self.pin is not None)
    @rule()
    def administrator_approves(self) -> None:
        assert self.pin is not None
        approved = identity.approve(self.pin)
        if not self.pin.changed:
            assert approved is None, "nothing to approve"
            return
        assert approved is not None and approved.pinned == self.pin.seen and not approved.changed
        self.approved.append(approved.pinned)
        self.pin = approved

    @invariant()
    def only_the_pinned_key_is_trusted(self) -> None:
        if self.pin is None:
            return
        assert identity.trusted(self.pin, self.pin.pinned)
        assert self.pin.changed == (not identity.trusted(self.pin, self.pin.seen))
        assert (self.pin.changed_at is not None) == self.pin.changed

    @invariant()
    def the_pin_moves_only_by_approval(self) -> None:
        if self.pin is not None:
            assert self.pin.pinned == (self.approved[-1] if self.approved else self.first)

    @invariant()
    def each_change_is_told_once(self) -> None:
        assert self.told == self.changes


TestPinnedIdentity = PinnedIdentity.TestCase
