"""A pinned identity's life (pinned ahead of time or first shown with an event → changed → approved, or changed
back), as a state machine: whatever order the homeserver serves keys in and administrators approve them, only
the pinned key is trusted, an identity first shown with the person's own event is not, the pin moves only by
an approval naming the key that waits, and each new key is told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.domain import identity
from bot.domain.identity import NONE, Pin

USER = "@tib:example.org"
KEYS = st.sampled_from(["A" * 43, "B" * 43, "C" * 43, "D" * 43])


class PinnedIdentity(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pin: Pin | None = None
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
        self.ahead: str | None = None  # the key pinned ahead of time ("" for none); None if not pinned so
        self.approved: list[str] = []  # keys administrators approved, in order
        self.told = 0  # log room messages
        self.changes = 0  # times the served key moved to one neither pinned nor served just before

    @precondition(lambda self: self.pin is None)
    @rule(key=st.one_of(st.none(), KEYS))
    def key_query_before_the_person_wrote(self, key: str | None) -> None:
        self.pin = identity.pin_ahead(USER, key)
        self.ahead = key or NONE
        assert not self.pin.changed and identity.trusted(self.pin, key or NONE) == (key is not None)

    @rule(key=KEYS)
    def served_with_an_event(self, key: str) -> None:
        self.now += timedelta(minutes=1)
        before = self.pin
        self.pin, tell = identity.observe(self.pin, USER, key, self.now)
        if before is None:
            self.changes += 1
            assert tell and self.pin.first and not identity.trusted(self.pin, key), \
                "an identity first shown with the person's own event waits for approval"
        elif key not in (before.seen, before.pinned):
            self.changes += 1
            assert tell and self.pin.changed_at == self.now
        else:
            assert not tell, "a key already told, or the pinned one, is not told again"
        self.told += tell
        assert identity.trusted(self.pin, key) == (key == self.pin.pinned)

    @precondition(lambda self: self.pin is not None)
    @rule(named=KEYS)
    def administrator_approves(self, named: str) -> None:
        assert self.pin is not None
        approved = identity.approve(self.pin, identity.fingerprint(named))
        if not self.pin.changed or named != self.pin.seen:
            assert approved is None, "nothing to approve, or another key waits than the one named"
            return
        assert approved is not None and approved.pinned == named and not approved.changed
        self.approved.append(approved.pinned)
        self.pin = approved

    @invariant()
    def only_the_pinned_key_is_trusted(self) -> None:
        if self.pin is None:
            return
        assert identity.trusted(self.pin, self.pin.pinned) == (self.pin.pinned != NONE)
        assert not identity.trusted(self.pin, NONE)
        if self.pin.seen != NONE:
            assert self.pin.changed == (not identity.trusted(self.pin, self.pin.seen))
        assert (self.pin.changed_at is not None) == self.pin.changed

    @invariant()
    def the_pin_moves_only_by_approval(self) -> None:
        if self.pin is not None:
            assert self.pin.pinned == (self.approved[-1] if self.approved else self.ahead or NONE)

    @invariant()
    def each_change_is_told_once(self) -> None:
        assert self.told == self.changes


TestPinnedIdentity = PinnedIdentity.TestCase
