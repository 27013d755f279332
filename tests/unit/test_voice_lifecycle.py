"""The call lifecycle on SQLite, as a state machine: the rows the flows write, the query that picks a call to
dial, the ends a call can have, acknowledgements on other channels, convocations that end, crashes. Whatever
the order: never two calls at once to one person, no call dialled for an ended convocation or an acknowledged
person, at most two attempts per person and convocation."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlmodel import col, select

from bot.domain import voice as rules
from bot.state import convocations
from bot.state import voice as store
from bot.state.db import Database
from bot.state.models import Convocation, ForumStateRow, PhoneNumber, Summons, VoiceCall

PEOPLE = ("@anna:example.org", "@bengt:example.org")
START = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
FORUMS = ("samordnande", "inriktande")  # one person can be convened by both at once


class CallLifecycle(RuleBasedStateMachine):
    """The bot's side of calls, driven through bot/state/voice.py as the flows and the caller use it."""

    @initialize()
    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        self.db = Database(f"sqlite+aiosqlite:///{Path(self.folder.name) / 'bot.db'}")
        self.run(self.db.migrate())
        self.now = START
        self.activation = 0
        self.convocations: dict[str, int] = {}
        self.acked: set[tuple[int, str]] = set()
        self.ended: set[int] = set()

    def teardown(self) -> None:
        if hasattr(self, "loop"):
            self.run(self.db.close())
            self.loop.close()
            self.folder.cleanup()

    def run(self, work):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(work)

    def write(self, work):  # type: ignore[no-untyped-def]
        return self.run(self.db.write(work))

    def rows(self) -> list[VoiceCall]:
        async def read() -> list[VoiceCall]:
            async with self.db.session() as session:
                return list((await session.exec(select(VoiceCall).order_by(col(VoiceCall.id)))).all())

        return self.run(read())

    # ---- what the flows do ----

    @rule(forum=st.sampled_from(FORUMS))
    def convene(self, forum: str) -> None:
        """A new activation and its convocation; the forum's last one ends (its calls cancelled, as the flow
        does)."""
        self.activation += 1
        previous = self.convocations.get(forum)

        async def work(session):  # type: ignore[no-untyped-def]
            if previous is not None:  # replaced: the convocation's end takes its calls with it
                await convocations.end(session, await convocations.standing(session, forum), self.now, "replaced")
            state = await session.get(ForumStateRow, forum) or ForumStateRow(forum_id=forum)
            state.mode, state.activation_id = "activated", self.activation
            session.add(state)
            convocation = Convocation(forum_id=forum, kind="activation", activation_id=self.activation,
                                      mode="activated", created_at=self.now, created_by="@tib:example.org",
                                      starts_at=self.now, call_after=300)
            session.add(convocation)
            await session.flush()
            for person in PEOPLE:
                session.add(Summons(convocation_id=convocation.id, function_id=f"f-{person}",
                                    holders=json.dumps([person]), convened_at=self.now))
            return convocation.id

        if previous is not None:
            self.ended.add(previous)
        self.convocations[forum] = self.write(work)

    @precondition(lambda self: self.convocations)
    @rule(data=st.data(), person=st.sampled_from(PEOPLE))
    def call_step(self, data: st.DataObject, person: str) -> None:
        """The ladder's call step writes attempt 1 once per person and convocation."""
        convocation = data.draw(st.sampled_from(sorted(self.convocations.values())))

        async def work(session):  # type: ignore[no-untyped-def]
            key = f"conv:{convocation}:{person}:1"
            if not await store.existing(session, [key]):
                session.add(VoiceCall(key=key, convocation_id=convocation, user_id=person, number="sealed",
                                      created_at=self.now, not_before=self.now))

        self.write(work)

    @precondition(lambda self: self.convocations)
    @rule(data=st.data(), person=st.sampled_from(PEOPLE))
    def acknowledged_elsewhere(self, data: st.DataObject, person: str) -> None:
        """A ✅ or an SMS reply."""
        convocation = data.draw(st.sampled_from(sorted(self.convocations.values())))

        async def work(session):  # type: ignore[no-untyped-def]
            for summons in (await session.exec(select(Summons).where(Summons.convocation_id == convocation))).all():
                if person in json.loads(summons.holders):
                    summons.ack_at = self.now
                    session.add(summons)

        self.write(work)
        self.acked.add((convocation, person))

    @precondition(lambda self: self.convocations)
    @rule(data=st.data())
    def deactivate(self, data: st.DataObject) -> None:
        forum = data.draw(st.sampled_from(sorted(self.convocations)))

        async def work(session):  # type: ignore[no-untyped-def]
            state = await session.get(ForumStateRow, forum)
            state.mode, state.activation_id = "ordinary", None
            session.add(state)
            await convocations.end(session, await convocations.standing(session, forum), self.now, "deactivated")

        self.write(work)
        self.ended.add(self.convocations[forum])

    @rule(minutes=st.integers(0, 5))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    # ---- what the caller does ----

    @rule(lines=st.integers(1, 3))
    def dial_due(self, lines: int) -> None:
        """The caller picks what is due and marks each row before its dial."""
        async def pick(session):  # type: ignore[no-untyped-def]
            return await store.due(session, self.now, lines)

        for row in self.write(pick):
            assert row.convocation_id not in self.ended, "no call for an ended convocation"
            assert (row.convocation_id, row.user_id) not in self.acked, "no call to an acknowledged person"
            self.write(lambda session, row=row: store.dialling(session, row.id, self.now))

    @rule(data=st.data(), end=st.sampled_from((rules.NO_ANSWER, rules.BUSY, rules.NO_KEY, rules.ACKED,
                                               rules.JOINED, rules.DECLINED, rules.FAILED)))
    def call_ends(self, data: st.DataObject, end: str) -> None:
        """A call in progress ends; the flow records it and writes the retry the rules ask for."""
        active = [r for r in self.rows() if r.state in rules.ACTIVE]
        if not active:
            return
        row = data.draw(st.sampled_from(active))
        if end in (rules.ACKED, rules.JOINED, rules.DECLINED, rules.NO_KEY):
            self.write(lambda session: store.answered(session, row.id, self.now))

        async def work(session):  # type: ignore[no-untyped-def]
            done = await store.end(session, row.id, end, self.now)
            if done is None:
                return
            after = rules.after_call(end, done.attempt, self.now)
            if after.retry_at is not None:
                session.add(VoiceCall(key=f"conv:{done.convocation_id}:{done.user_id}:{done.attempt + 1}",
                                      convocation_id=done.convocation_id, user_id=done.user_id, number="sealed",
                                      attempt=done.attempt + 1, created_at=self.now, not_before=after.retry_at))
            if after.acknowledged:
                for summons in (await session.exec(select(Summons).where(
                        Summons.convocation_id == done.convocation_id))).all():
                    if done.user_id in json.loads(summons.holders):
                        summons.ack_at = self.now
                        session.add(summons)

        self.write(work)
        if end in (rules.ACKED, rules.JOINED):
            self.acked.add((row.convocation_id, row.user_id))

    @rule()
    def hang_up_unwanted(self) -> None:
        """The caller hangs up calls whose convocation ended or whose person acknowledged."""
        active = [r.id for r in self.rows() if r.state in rules.ACTIVE]

        async def work(session):  # type: ignore[no-untyped-def]
            wanted = await store.standing(session, active, self.now)
            for call in active:
                if call not in wanted:
                    await store.end(session, call, rules.HUNG_UP, self.now)

        self.write(work)
        for row in self.rows():
            if row.id in active and row.state in rules.ACTIVE:
                assert row.convocation_id not in self.ended and (row.convocation_id, row.user_id) not in self.acked

    @rule()
    def crash(self) -> None:
        """The bot dies mid-call and starts again: the calls in progress wait to be dialled again."""
        self.write(store.after_crash)

    # ---- what must always hold ----

    @invariant()
    def never_two_calls_at_once_to_one_person(self) -> None:
        if not hasattr(self, "db"):
            return
        active = [r.user_id for r in self.rows() if r.state in rules.ACTIVE]
        assert len(active) == len(set(active))

    @invariant()
    def at_most_two_attempts(self) -> None:
        if not hasattr(self, "db"):
            return
        attempts: dict[tuple[int, str], int] = {}
        for row in self.rows():
            attempts[(row.convocation_id, row.user_id)] = attempts.get((row.convocation_id, row.user_id), 0) + 1
            assert row.attempt <= rules.ATTEMPTS
        assert all(n <= rules.ATTEMPTS for n in attempts.values())


TestCallLifecycle = CallLifecycle.TestCase
TestCallLifecycle.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


class _Pick:
    """Draws for the machine's rules when a test drives it step by step."""

    def __init__(self, value: object) -> None:
        self.value = value

    def draw(self, strategy: object) -> object:
        return self.value


def test_a_person_convened_by_two_forums_is_rung_for_one_at_a_time_and_a_crash_repeats_only_that_call() -> None:
    """Two forums call the same person: the second call waits until the first has ended; a crash during the
    first dials it again once, and never both."""
    machine = CallLifecycle()
    machine.start()
    try:
        machine.convene("samordnande")
        machine.convene("inriktande")
        for convocation in machine.convocations.values():
            machine.call_step(_Pick(convocation), PEOPLE[0])  # type: ignore[arg-type]
        machine.dial_due(3)
        machine.dial_due(3)
        assert [r.state for r in machine.rows()] == ["dialling", "queued"]
        machine.crash()
        machine.dial_due(3)
        rows = machine.rows()
        assert [r.state for r in rows] == ["dialling", "queued"] and rows[0].dials == 2
        machine.call_ends(_Pick(rows[0]), rules.ACKED)  # type: ignore[arg-type]
        machine.dial_due(3)
        assert [r.state for r in machine.rows()] == ["acked", "dialling"]
        machine.never_two_calls_at_once_to_one_person()
    finally:
        machine.teardown()


def _with_calls(machine: CallLifecycle, people: tuple[str, ...], lookups: dict[str, str]) -> int:
    """One convocation of `people`, each with a number in the contacts store (its lookup) and a call row."""
    machine.convene("samordnande")
    convocation = machine.convocations["samordnande"]

    async def work(session):  # type: ignore[no-untyped-def]
        for person in people:
            if person not in PEOPLE:
                session.add(Summons(convocation_id=convocation, function_id=f"f-{person}",
                                    holders=json.dumps([person]), convened_at=machine.now))
            session.add(PhoneNumber(user_id=person, number="sealed", lookup=lookups[person], source="contacts",
                                    confirmed_at=machine.now))
            session.add(VoiceCall(key=f"conv:{convocation}:{person}:1", convocation_id=convocation, user_id=person,
                                  number="sealed", created_at=machine.now, not_before=machine.now))

    machine.write(work)
    return convocation


def test_two_holders_who_share_one_number_are_rung_one_after_the_other_never_at_once() -> None:
    """A shared duty phone: two people, one number (the same lookup in the contacts store). One call is dialled;
    the other waits (and keeps no one awake) until the first has ended; a third person's number is rung at once."""
    machine = CallLifecycle()
    machine.start()
    try:
        third = "@cecilia:example.org"
        _with_calls(machine, (*PEOPLE, third), {PEOPLE[0]: "duty-phone", PEOPLE[1]: "duty-phone", third: "own"})
        machine.dial_due(3)
        states = {r.user_id: r.state for r in machine.rows()}
        assert sorted(states.values()) == ["dialling", "dialling", "queued"], states
        assert states[third] == "dialling" and [states[p] for p in PEOPLE].count("dialling") == 1
        machine.dial_due(3)
        assert [states[p] for p in PEOPLE].count("queued") == 1, "not while the number is on the line"

        async def upcoming(session):  # type: ignore[no-untyped-def]
            return await store.next_not_before(session, machine.now)

        assert machine.write(upcoming) is None, "a call that waits for the line does not keep the caller awake"
        first = next(r for r in machine.rows() if r.user_id in PEOPLE and r.state == "dialling")
        machine.write(lambda session: store.end(session, first.id, rules.NO_KEY, machine.now))
        machine.dial_due(3)
        assert sorted(r.state for r in machine.rows() if r.user_id in PEOPLE) == ["dialling", "no_key"]
    finally:
        machine.teardown()


def test_an_acknowledgement_cancels_the_persons_waiting_calls_and_nothing_left_keeps_the_caller_awake() -> None:
    """A queued retry of a person who acknowledged is cancelled in the acknowledgement's transaction; another
    person's call stays. A convocation over a day old is not waited for either."""
    machine = CallLifecycle()
    machine.start()
    try:
        convocation = _with_calls(machine, PEOPLE, {PEOPLE[0]: "a", PEOPLE[1]: "b"})
        machine.time_passes(0)

        async def acknowledge(session):  # type: ignore[no-untyped-def]
            for summons in (await session.exec(select(Summons).where(Summons.convocation_id == convocation))).all():
                if PEOPLE[0] in json.loads(summons.holders):
                    summons.ack_at = machine.now
                    session.add(summons)
            return await store.cancel_unwanted(session, [convocation], machine.now)

        assert machine.write(acknowledge) == 1
        assert {r.user_id: r.state for r in machine.rows()} == {PEOPLE[0]: "cancelled", PEOPLE[1]: "queued"}

        async def upcoming(session):  # type: ignore[no-untyped-def]
            return await store.next_not_before(session, machine.now)

        assert machine.write(upcoming) == START
        machine.now = START + timedelta(hours=25)
        assert machine.write(upcoming) is None, "a convocation over a day old is no longer rung for: nothing waits"
    finally:
        machine.teardown()


async def test_the_queries_that_keep_one_call_per_number_hold_on_each_backend(db: Database) -> None:
    """SQLite and PostgreSQL alike: a shared number is rung once at a time, a person's ✅ cancels their waiting
    call (not another's), and the caller's next look is only for calls it would dial."""
    people = (*PEOPLE, "@cecilia:example.org")

    async def setup(session):  # type: ignore[no-untyped-def]
        session.add(ForumStateRow(forum_id="samordnande", mode="activated", activation_id=1))
        convocation = Convocation(forum_id="samordnande", kind="activation", activation_id=1, mode="activated",
                                  created_at=START, created_by="@tib:example.org", starts_at=START, call_after=300)
        session.add(convocation)
        await session.flush()
        for person, line in zip(people, ("duty-phone", "duty-phone", "own"), strict=True):
            session.add(Summons(convocation_id=convocation.id, function_id=f"f-{person}",
                                holders=json.dumps([person]), convened_at=START))
            session.add(PhoneNumber(user_id=person, number="sealed", lookup=line, source="contacts",
                                    confirmed_at=START))
            session.add(VoiceCall(key=f"k-{person}", convocation_id=convocation.id, user_id=person, number="sealed",
                                  created_at=START, not_before=START))
        return convocation.id

    convocation = await db.write(setup)

    async def dial(session):  # type: ignore[no-untyped-def]
        picked = await store.due(session, START, 3)
        for row in picked:
            await store.dialling(session, row.id, START)
        return sorted(row.user_id for row in picked)

    first = await db.write(dial)
    assert len(first) == 2 and people[2] in first, first
    assert await db.write(dial) == [], "the shared number is on the line"
    async with db.session() as session:
        assert await store.next_not_before(session, START) is None

    waiting = next(p for p in PEOPLE if p not in first)

    async def acknowledge(session):  # type: ignore[no-untyped-def]
        for summons in (await session.exec(select(Summons))).all():
            if waiting in json.loads(summons.holders):
                summons.ack_at = START
                session.add(summons)
        return await store.cancel_unwanted(session, [convocation], START)

    assert await db.write(acknowledge) == 1
    async with db.session() as session:
        rows = {r.user_id: r.state for r in (await session.exec(select(VoiceCall))).all()}
    assert rows == {**{p: "dialling" for p in first}, waiting: "cancelled"}
