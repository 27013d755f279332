"""SMHI's proposals as a TiB reads them on a lock screen, on the injected clock and a real database: one warning
with two areas in the county rings once and one activation answers it; a county that drops out is not named in the
headline that says so; the stale note says what is true since the last good copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from feeds import STOCKHOLM, UPPSALA, warning
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.feeds.http import NO_ANSWER
from bot.feeds.smhi import parse
from bot.flows import warnings as warnings_flow
from bot.messages import Reaction
from bot.runtime.dispatch import Dispatcher
from bot.state import feeds as feeds_store
from bot.state.db import Database
from bot.state.models import OutboxMessage

TIB, TIB2 = "@tib:lst.test", "@tib2:lst.test"
ROOM = "!samordnande:lst.test"
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
ASKS = "Aktivera samordnande för snöoväder? Svara ✅"


class Harness:
    """The dispatcher as the App wires it; each outbox row is marked sent at once, as the homeserver would."""

    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock(NOW)
        self.db = Database(f"sqlite+aiosqlite:///{tmp / 'bot.db'}")
        self.n = 0

    async def start(self) -> None:
        await self.db.migrate()
        settings = parse_settings({
            "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:lst.test"},
            "organisation": [{"id": "lst", "name": "Länsstyrelsen"}],
            "function": [{"id": "tib", "organisation": "lst", "name": "TiB", "holders": [TIB, TIB2],
                          "may_convene": True}],
            "forum": [{"id": "samordnande", "name": "Samordnande", "level": "samordnande", "room": ROOM,
                       "chair": "tib", "ordinary": ["tib"]}],
            "warnings": {"url": "http://127.0.0.1:1/w.json", "counties": [1], "propose": [
                {"events": ["SNOW"], "forum": "samordnande", "event": "snöoväder"}]}})
        self.dispatch = Dispatcher(self.db, Directory.build(settings), self.clock, bot_user="@bot:lst.test")

    async def observe(self, *documents: dict[str, Any]) -> None:
        self.n += 1
        self.clock.advance(timedelta(minutes=5))
        items = parse(json.dumps(list(documents)).encode())
        await self.dispatch.run_internal(f"w{self.n}", partial(warnings_flow.observe, items=items))
        await self._sent()

    async def tick(self, who: str, event_id: str) -> None:
        self.n += 1
        self.clock.advance(timedelta(minutes=1))
        await self.dispatch.handle_reaction(Reaction(ROOM, who, f"$r{self.n}", event_id, "✅", self.clock.now()))
        await self._sent()

    async def _sent(self) -> None:
        async def mark(session: AsyncSession) -> None:
            for row in (await session.exec(select(OutboxMessage).where(col(OutboxMessage.event_id).is_(None)))).all():
                row.event_id, row.sent_at = f"$e{row.id}", self.clock.now()
                session.add(row)
        await self.db.write(mark)

    async def room(self) -> list[tuple[int, str | None, str, bool, str | None]]:
        """(id, ref, body, rings, the event it edits) for each message to the forum's room, in order."""
        async with self.db.session() as session:
            rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        found = []
        for row in rows:
            if row.target != ROOM:
                continue
            message = json.loads(row.content).get("message")
            if message is None:
                continue  # not a message (a receipt, a room to open)
            edited = message.get("replaces")
            rings = bool(message.get("ping") and message.get("mentions")) and edited is None  # an edit rings nobody
            found.append((row.id, row.ref, message.get("body", ""), rings, edited))
        return found

    def showing(self, room: list[tuple[int, str | None, str, bool, str | None]]) -> dict[str, str]:
        """What each proposal's message shows now: its latest edit, else itself."""
        latest = {f"$e{i}": body for i, ref, body, _, _ in room if ref and ref.startswith("warning:")}
        for _, _, body, _, edited in room:
            if edited in latest:
                latest[edited] = body
        return latest


def snow(area: int, level: str = "ORANGE", areas: tuple[dict[str, object], ...] = (STOCKHOLM,),
         hours: int = 42) -> dict[str, Any]:
    return warning(7001, area, level=level, start=NOW + timedelta(hours=18), end=NOW + timedelta(hours=hours),
                   published=NOW, areas=areas, text="Kraftigt snöfall.")


def two_areas(level: str = "ORANGE", hours: int = 42) -> dict[str, Any]:
    document = snow(9001, level, hours=hours)
    document["warningAreas"].append(snow(9002, level, hours=hours)["warningAreas"][0])
    return document


async def test_one_warning_with_two_areas_in_the_county_rings_once_and_one_activation_answers_it(
        tmp_path: Path) -> None:
    h = Harness(tmp_path)
    await h.start()
    try:
        await h.observe(two_areas())
        proposals = [m for m in await h.room() if m[1] and m[1].startswith("warning:")]
        assert len(proposals) == 1 and proposals[0][3], "one ringing proposal for one warning, not one per area"
        await h.tick(TIB, f"$e{proposals[0][0]}")
        await h.tick(TIB2, f"$e{proposals[0][0]}")
        await h.observe(two_areas("RED"))
        await h.observe(two_areas("RED", hours=48))  # both areas extended: the activated forum told once
        await h.observe(snow(9002, "RED", hours=54))  # one area gone, the other still in the county, extended
        room = await h.room()
    finally:
        await h.db.close()
    showing = h.showing(room)
    assert len(showing) == 2, "orange once, red once"
    orange = next(iter(showing.values()))
    assert ASKS not in orange and "Aktiverat av TiB (@tib:lst.test)" in orange, "the orange proposal no longer asks"
    assert sum(rings for _, _, _, rings, _ in room if rings) == 2, \
        "the orange proposal and the convocation ring; the red one is posted quietly, the forum being active"
    updated = [body for _, _, body, _, _ in room if "SMHI har uppdaterat varningen" in body]
    assert len(updated) == 2, "once a look for the warning, whichever area carries the proposal"
    assert not any("UPPHÄVD" in body or "GÄLLER INTE LÄNGRE" in body for _, _, body, _, _ in room), \
        "one area gone while the other still covers the county: the warning stands"


async def test_a_county_that_drops_out_is_not_named_in_the_headline_that_says_so(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    await h.start()
    try:
        await h.observe(snow(9001))
        await h.observe(snow(9001, areas=(UPPSALA,)))
        room = await h.room()
    finally:
        await h.db.close()
    edits = [body for _, _, body, _, edited in room if edited]
    assert len(edits) == 1
    first, second = edits[0].split("\n")[:2]
    assert first == "GÄLLER INTE LÄNGRE STOCKHOLMS LÄN: SMHI: ORANGE varning snöfall, lör 07:00 – sön 07:00"
    assert second.startswith("Varningen gäller inte längre Stockholms län")


async def test_silence_after_an_answer_since_the_last_good_copy_never_reads_as_no_answer(tmp_path: Path) -> None:
    """SMHI silent from 10:00, one 429 at 12:00, silent again: it did answer since 10:00."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await db.migrate()
    at = datetime(2026, 12, 4, 9, tzinfo=UTC)
    name, url = feeds_store.WARNINGS, "http://smhi.test/w.json"
    faults = [(10, f"{NO_ANSWER} (20 s)", False), (12, "HTTP 429", True), (13, f"{NO_ANSWER} (20 s)", False)]
    kept = []
    try:
        await db.write(lambda s: feeds_store.good(s, name, url, at))
        for hour, why, answered in faults:
            await db.write(partial(feeds_store.fault, name=name, url=url, at=at.replace(hour=hour), why=why,
                                   answered=answered))
            async with db.session() as session:
                copy = await feeds_store.get(session, name)
                assert copy is not None
                kept.append(copy.fault)
    finally:
        await db.close()
    assert kept == [f"{NO_ANSWER} (20 s)", "HTTP 429", "HTTP 429"], \
        "no answer until 12:00 reads as such; after the 429, silence keeps that it answered"
