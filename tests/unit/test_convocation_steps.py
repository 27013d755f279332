"""Every step of a convocation as a duty officer lives it, driven at random: activate, deactivate, replace,
`!kalla`, `!kalla-in`, `!kalla-ut`, the weekly meeting convened a day ahead, `!flytta`, `!ställ-in`, ✅,
`!kvittera`, SMS replies, the clock and restarts, in any order.

Runs the real dispatcher, flows and timers on a real SQLite database with an injected clock. The transport
records what is delivered: it takes what the adapters would take (the Matrix outbox's due rows, the SMS
outbox's due rows) at the moment they would, and nothing else. A restart closes the database and opens it
again with a new dispatcher. Invariants:

- nothing is delivered for a convocation that has ended (deactivated) or been replaced;
- at most one of each step per person and convocation (one SMS, one direct message, one reminder);
- every holder of a live convocation who has not acknowledged gets its SMS exactly once, once it is due.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlmodel import col, select

from bot.config import parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.domain.schedule import CONVENE, due_steps
from bot.flows import sms as sms_flow
from bot.flows.meeting_steps import run_step
from bot.messages import Incoming, Reaction, SmsIn
from bot.runtime.dispatch import Dispatcher
from bot.runtime.timers import Timers
from bot.state import forums as forum_store
from bot.state import meetings, repo
from bot.state import sms as sms_store
from bot.state.db import Database
from bot.state.models import Convocation, OutboxMessage, Summons
from bot.state.vault import Vault

TIB, ANNA, SARA, TOVE = "@tib:example.org", "@anna:example.org", "@sara:example.org", "@tove:example.org"
PEOPLE = (TIB, ANNA, SARA, TOVE)
NUMBERS = {TIB: "+46701740600", ANNA: "+46701740601", SARA: "+46701740602", TOVE: "+46701740603"}  # fictitious
FORUM_ROOM = "!forum:example.org"
SMS_AFTER = timedelta(minutes=2)
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
WEDNESDAY = datetime(2026, 11, 25, 9, 0, 30, tzinfo=UTC)  # a day before Thursday's 10:00 meeting, and a little
VAULT = Vault("a-test-key-of-enough-length-for-the-vault", "test")  # one key derivation for every run
TEMPLATE: dict[str, bytes] = {}  # a migrated database with the numbers registered, copied for each run


def world(tmp: Path) -> Any:
    return parse_settings({
        "bot": {"admins": ["@admin:example.org"]},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:example.org"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp / 'bot.db'}"},
        "sms": {"gateway": "http://127.0.0.1:1/cgi-bin/sendsms", "user": "bot", "sender": "+46701740699",
                "sms_after": "2m"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}, {"id": "nacka", "name": "Nacka kommun"},
                         {"id": "sos", "name": "SOS Alarm"}, {"id": "trv", "name": "Trafikverket"}],
        "function": [
            {"id": "lst-tib", "organisation": "lst", "name": "TiB", "aliases": ["tib"], "may_convene": True,
             "holders": [TIB]},
            {"id": "nacka-tib", "organisation": "nacka", "name": "TiB Nacka", "holders": [ANNA],
             "deputies": ["sos-vb"]},
            {"id": "sos-vb", "organisation": "sos", "name": "Vakthavande", "holders": [SARA]},
            {"id": "trv-tlc", "organisation": "trv", "name": "Trafikledning", "aliases": ["tlc"], "holders": [TOVE]},
        ],
        "forum": [{"id": "samordnande", "name": "Samordnande", "level": "samordnande", "room": FORUM_ROOM,
                   "chair": "lst-tib", "ordinary": ["lst-tib", "nacka-tib"],
                   "activated": ["lst-tib", "nacka-tib", "sos-vb"],
                   "conference": {"phone": "+46812345678", "pin": "4711"}},
                  {"id": "inriktande", "name": "Regionalt inriktande forum", "level": "inriktande",
                   "room": "!inriktande:example.org", "chair": "lst-tib", "ordinary": ["lst-tib"],
                   "activated": ["lst-tib", "nacka-tib"]},
                  {"id": "vecko", "name": "Verkställande forum", "level": "verkställande", "room": "!vecko:example.org",
                   "chair": "lst-tib", "ordinary": ["lst-tib", "nacka-tib"],
                   "meeting": [{"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0",
                                "convene_before": "24h", "sms_after": "1m"}]}],
    })


@dataclass
class Delivered:
    """One thing the transport delivered: a Matrix message or an SMS."""

    channel: str  # "matrix" | "sms"
    target: str  # a room, `user:@…`, or the person texted
    ref: str | None
    kind: str  # the SMS's kind, or "ping" / "dm" / "notice"
    reminder: bool
    at: datetime
    batch: int  # the transport's pass that delivered it


class ConvocationSteps(RuleBasedStateMachine):
    """The bot as a forum's convener and its members use it, with a clock that only moves when told."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = TemporaryDirectory()
        self.config = world(Path(self.folder.name))
        self.clock = FakeClock(START)
        self.vault = VAULT
        self.events = 0
        self.delivered: list[Delivered] = []
        self.batch = 0  # the transport's passes: one after each thing that happens
        self.gateway_up = True  # False: the SMS wait in their outbox, as when the gateway does not answer
        self.ended: dict[int, int] = {}  # convocation -> the last pass before the model says it ended
        # (convocation, person) -> the passes between a release and the next call-in (None: not called in again)
        self.released: dict[tuple[int, str], list[int | None]] = {}
        self.db: Database
        self.dispatch: Dispatcher
        path = Path(self.folder.name) / "bot.db"
        if TEMPLATE:
            path.write_bytes(TEMPLATE["db"])
            self.run(self.open())
        else:
            self.run(self.open())
            self.run(self.register_numbers())
            self.run(self.db.close())
            TEMPLATE["db"] = path.read_bytes()
            self.run(self.open())

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    async def open(self) -> None:
        self.db = Database(self.config.database.url)
        await self.db.migrate()
        self.dispatch = Dispatcher(self.db, Directory.build(self.config), self.clock, vault=self.vault)

    async def register_numbers(self) -> None:
        async def write(session: Any) -> None:
            for user, number in NUMBERS.items():
                await sms_store.set_number(session, user, self.vault.seal(number), self.vault.lookup(number),
                                           "self", self.clock.now())
        await self.db.write(write)

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        self.folder.cleanup()

    # ---- what the bot is asked ----

    def event_id(self) -> str:
        self.events += 1
        return f"$e{self.events}"

    async def command(self, sender: str, text: str, room: str = FORUM_ROOM) -> None:
        await self.dispatch.handle(Incoming(room, sender, self.event_id(), text, self.clock.now()))
        await self.deliver()

    async def convocations(self) -> list[Convocation]:
        async with self.db.session() as session:
            return list((await session.exec(select(Convocation).order_by(col(Convocation.id)))).all())

    async def active(self) -> bool:
        async with self.db.session() as session:
            return (await forum_store.forum_state(session, "samordnande")).active

    async def activation(self) -> int | None:
        async with self.db.session() as session:
            return (await forum_store.forum_state(session, "samordnande")).activation_id

    async def replacing(self, text: str) -> None:
        """A command that convenes the whole composition anew: every earlier convocation is replaced."""
        before = {c.id for c in await self.convocations() if c.id not in self.ended and c.forum_id == "samordnande"
                  and c.starts_at <= self.clock.now()}
        known = {c.id for c in await self.convocations()}
        batch = self.batch
        await self.command(TIB, text)
        if {c.id for c in await self.convocations()} - known:
            for conv in before:
                assert conv is not None
                self.ended.setdefault(conv, batch)

    @rule(event=st.sampled_from(["brand", "gasläcka", "snöoväder"]))
    def activate(self, event: str) -> None:
        """`!aktivera`, or `!aktivera … ny` when the forum is activated: a new event replaces the last."""
        again = self.run(self.active())
        self.run(self.replacing(f"!aktivera samordnande {event}{' ny' if again else ''}"))

    @rule()
    def deactivate(self) -> None:
        if not self.run(self.active()):
            return
        activation = self.run(self.activation())  # only the activation's convocations end, not another forum's
        live = [c.id for c in self.run(self.convocations()) if c.id not in self.ended
                and c.forum_id == "samordnande" and c.activation_id == activation]
        batch = self.batch
        self.run(self.command(TIB, "!avaktivera samordnande"))  # another forum's meeting stands
        for conv in live:
            assert conv is not None
            self.ended.setdefault(conv, batch)

    @rule()
    def extra_conference(self) -> None:
        """`!kalla`: an extra conference now, which replaces the convocations before it."""
        self.run(self.replacing("!kalla samordnande"))

    @rule()
    def call_in(self) -> None:
        for window in self.released.values():
            if window[1] is None:
                window[1] = self.batch
        self.run(self.command(TIB, "!kalla-in tlc samordnande"))

    @rule()
    def release(self) -> None:
        convs = self.run(self.convocations())
        batch = self.batch
        self.run(self.command(TIB, "!kalla-ut tlc samordnande"))
        for conv in convs:
            assert conv.id is not None
            window = self.released.get((conv.id, TOVE))
            if window is None or window[1] is not None:
                self.released[(conv.id, TOVE)] = [batch, None]

    @rule(who=st.sampled_from(PEOPLE))
    def acknowledge(self, who: str) -> None:
        self.run(self.command(who, "!kvittera", room=f"!dm-{who[1:5]}:example.org"))

    @rule(who=st.sampled_from(PEOPLE), pick=st.integers(min_value=0, max_value=50))
    def react(self, who: str, pick: int) -> None:
        """✅ on one of the direct messages that person got."""
        self.run(self._react(who, pick))

    async def _react(self, who: str, pick: int) -> None:
        async with self.db.session() as session:
            rows = (await session.exec(select(OutboxMessage).where(
                OutboxMessage.target == f"user:{who}", col(OutboxMessage.event_id).is_not(None)))).all()
        if not rows:
            return
        row = rows[pick % len(rows)]
        assert row.event_id is not None
        await self.dispatch.handle_reaction(Reaction(f"!dm-{who[1:5]}:example.org", who, self.event_id(),
                                                     row.event_id, "✅", self.clock.now()))
        await self.deliver()

    @rule(who=st.sampled_from(PEOPLE), text=st.sampled_from(["1", "ok", "2", "nej", "1 kommer 10:15", "hallå"]))
    def sms_reply(self, who: str, text: str) -> None:
        number = NUMBERS[who]
        incoming = SmsIn(gateway_id=self.event_id(), number=self.vault.seal(number),
                         lookup=self.vault.lookup(number), text=text, masked="+46 70 *** ** 00")
        self.run(self.dispatch.run_internal(f"sms-in:{incoming.gateway_id}",
                                            partial(sms_flow.reply, incoming=incoming)))
        self.run(self.deliver())

    @rule()
    def weekly_meeting_is_convened(self) -> None:
        """The clock jumps to Wednesday 10:00 and the meeting plan convenes Thursday's meeting (`sms_after` 1m)."""
        if self.clock.now() >= WEDNESDAY:
            return
        before = self.clock.now()
        self.clock.advance(WEDNESDAY - before)
        forums = [f for f in self.config.forums if f.id == "vecko"]
        changes = self.run(self.changes())
        for step in due_steps(forums, changes, before, self.clock.now(), ZoneInfo("Europe/Stockholm")):
            if step.kind == CONVENE:
                self.run(self.dispatch.run_internal(f"step:{step.at.isoformat()}", partial(run_step, step=step)))
        self.run(self.tick())

    @rule(to=st.sampled_from(["11:00", "13:30"]))
    def move_meeting(self, to: str) -> None:
        """`!flytta`: the meeting moves; its convocation stands, for the new time."""
        self.run(self.command(TIB, f"!flytta vecko torsdag 10:00 till torsdag {to}", room="!vecko:example.org"))

    @rule()
    def cancel_meeting(self) -> None:
        """`!ställ-in`: the meeting's convocation ends."""
        convs = [c for c in self.run(self.convocations()) if c.forum_id == "vecko" and c.id not in self.ended]
        batch = self.batch
        cancelled = self.run(self.cancelled())
        self.run(self.command(TIB, "!ställ-in vecko torsdag 10:00", room="!vecko:example.org"))
        if self.run(self.cancelled()) > cancelled:
            for conv in convs:
                assert conv.id is not None
                self.ended.setdefault(conv.id, batch)

    async def changes(self) -> list[Any]:
        async with self.db.session() as session:
            return list(await meetings.changes(session))

    async def cancelled(self) -> int:
        return sum(c.moved_to is None for c in await self.changes())

    @rule(seconds=st.sampled_from([1, 10, 50, 65, 119, 121, 180, 301, 600]))
    def time_passes(self, seconds: int) -> None:
        """The clock moves; the timers run what fell due, once."""
        self.clock.advance(timedelta(seconds=seconds))
        self.run(self.tick())

    async def tick(self) -> None:
        await Timers(self.db, self.dispatch, self.clock).fire_due()
        await self.deliver()

    @rule()
    def restart(self) -> None:
        """The bot stops and starts again on the same database."""
        self.run(self.db.close())
        self.run(self.open())
        self.run(self.tick())

    # ---- the transport ----

    async def deliver(self) -> None:
        """What the adapters would send now: the due rows of both outboxes, each once."""
        now = self.clock.now()
        self.batch += 1
        async with self.db.session() as session:
            matrix = list(await repo.due_messages(session, now))
            texts = list(await sms_store.due(session, now, 500)) if self.gateway_up else []
        for row in matrix:
            if row.state_key is not None:
                continue
            content = json.loads(row.content)
            message = content.get("message", content)
            mentions = message.get("mentions") or []
            kind = "dm" if row.target.startswith("user:") else "ping" if mentions else "notice"
            reminder = "PÅMINNELSE" in json.dumps(message, ensure_ascii=False)
            self.delivered.append(Delivered("matrix", row.target, row.ref, kind, reminder, now, self.batch))
        for text in texts:
            self.delivered.append(Delivered("sms", text.user_id or "?", text.ref, text.kind, False, now, self.batch))

        async def mark(session: Any) -> None:
            for row in matrix:
                assert row.id is not None
                await repo.mark_sent(session, row.id, row.target, f"$out{row.id}", now)
            for text in texts:
                assert text.id is not None
                await sms_store.mark(session, text.id, sms_store.ACCEPTED, now)

        await self.db.write(mark)

    # ---- what must always hold ----

    def conv_of(self, ref: str | None) -> int | None:
        kind, _, value = (ref or "").partition(":")
        return int(value) if kind == "conv" and value.isdigit() else None

    @invariant()
    def nothing_for_an_ended_convocation(self) -> None:
        for item in self.delivered:
            conv = self.conv_of(item.ref)
            if conv is None or (item.channel == "sms" and item.kind != "convocation"):
                continue  # an SMS saying it is over, or a reply, is about the end itself
            ended = self.ended.get(conv)
            assert ended is None or item.batch <= ended, f"{item} delivered after convocation {conv} ended"
            window = self.released.get((conv, item.target.removeprefix("user:")))
            if window is not None and item.kind != "notice":
                start, end = window
                assert start is not None and (item.batch <= start or (end is not None and item.batch > end)), \
                    f"{item} after the release"

    @invariant()
    def at_most_one_of_each_step(self) -> None:
        steps = Counter((i.channel, i.kind, i.reminder, i.target, i.ref) for i in self.delivered
                        if self.conv_of(i.ref) is not None and (i.kind == "convocation" or i.kind == "dm")
                        and (self.conv_of(i.ref), i.target.removeprefix("user:")) not in self.released)
        twice = {k: n for k, n in steps.items() if n > 1}
        assert not twice, f"a step delivered more than once: {twice}"

    @invariant()
    def every_live_unanswered_holder_is_texted_once(self) -> None:
        self.run(self._texted_once())

    async def _texted_once(self) -> None:
        now = self.clock.now()
        async with self.db.session() as session:
            convocations = {c.id: c for c in (await session.exec(select(Convocation))).all()}
            summonses = list((await session.exec(select(Summons))).all())
        texted = Counter((i.target, i.ref) for i in self.delivered if i.channel == "sms" and i.kind == "convocation")
        for summons in summonses:
            conv = convocations[summons.convocation_id]
            if conv.sms_after is None or conv.id in self.ended:
                continue
            due = summons.convened_at + timedelta(seconds=conv.sms_after)
            if due > now or (summons.ack_at is not None and summons.ack_at <= due):
                continue
            for person in json.loads(summons.holders):
                if (conv.id, person) in self.released:
                    continue
                others = [s for s in summonses if s.convocation_id == conv.id and person in json.loads(s.holders)]
                if any(s.ack_at is not None and s.ack_at <= due for s in others):
                    continue  # answered for another function of the same convocation before the SMS was due
                assert texted[(person, f"conv:{conv.id}")] == 1, \
                    f"{person} unanswered in live convocation {conv.id} since {due}: texted " \
                    f"{texted[(person, f'conv:{conv.id}')]} times"


# On CI 25 runs of up to 20 steps (about a minute); by hand as many as STATEFUL_EXAMPLES says.
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES") or (25 if os.environ.get("CI") else 12))
ConvocationSteps.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=20, deadline=None,
                                              suppress_health_check=[HealthCheck.too_slow])
TestConvocationSteps = ConvocationSteps.TestCase


def test_the_machine_runs_the_bug_of_issue_37_as_a_fixed_story() -> None:
    """Activated, deactivated 0.8 s later, the SMS time passes: no SMS for the ended convocation."""
    machine = ConvocationSteps()
    try:
        machine.activate("brand")
        machine.clock.advance(timedelta(milliseconds=800))
        machine.deactivate()
        machine.time_passes(121)
        machine.nothing_for_an_ended_convocation()
        assert not [d for d in machine.delivered if d.channel == "sms"]
    finally:
        machine.teardown()
