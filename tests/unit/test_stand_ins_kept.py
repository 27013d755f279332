"""Stand-ins read by one command serve the next: by their times, and read again when the clock goes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.flows.context import Context
from bot.messages import Incoming
from bot.state import roster
from bot.state.db import Database

NOW = datetime(2026, 11, 26, 2, 57, tzinfo=UTC)
RASMUS = "@rasmus:lst.test"


def directory() -> Directory:
    return Directory.build(parse_settings({
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:lst.test"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}],
        "function": [{"id": "tib", "organisation": "lst", "name": "TiB", "holders": ["@anna:lst.test"],
                      "may_convene": True},
                     {"id": "rsib", "organisation": "lst", "name": "RSIB", "holders": [RASMUS]}],
        "forum": [{"id": "f", "name": "Forum", "level": "samordnande", "room": "#f:lst.test", "chair": "tib",
                   "ordinary": ["tib", "rsib"]}],
    }))


async def held_by_rasmus(db: Database, clock: FakeClock, context: Context | None) -> tuple[list[str], Context]:
    """What Rasmus may act for in a command now, given what the command before read."""
    async with db.session() as session:
        ctx = Context(Incoming("!f:lst.test", RASMUS, "$e", "!status", clock.now()), session, directory(), clock, "sv",
                      known_stand_ins=context.known_stand_ins if context else None)
        return [f.id for f in await ctx.held()], ctx


async def test_a_stand_in_read_before_counts_by_its_times(db: Database) -> None:
    async with db.session() as session:
        await roster.take_over(session, "tib", RASMUS, NOW, NOW + timedelta(hours=1), "@anna:lst.test")
    clock = FakeClock(NOW + timedelta(minutes=30))
    held, first = await held_by_rasmus(db, clock, None)
    assert held == ["rsib", "tib"]

    clock.advance(timedelta(hours=1))  # the stand-in has ended; the list read before still holds it
    held, later = await held_by_rasmus(db, clock, first)
    assert held == ["rsib"]
    assert later.known_stand_ins is first.known_stand_ins, "not read again"


async def test_a_clock_set_back_reads_the_stand_ins_again(db: Database) -> None:
    async with db.session() as session:
        await roster.take_over(session, "tib", RASMUS, NOW, NOW + timedelta(hours=1), "@anna:lst.test")
    clock = FakeClock(NOW + timedelta(hours=2))
    held, after = await held_by_rasmus(db, clock, None)
    assert held == ["rsib"]  # read when it had ended: not in the list

    clock.set(NOW + timedelta(minutes=30))
    held, _ = await held_by_rasmus(db, clock, after)
    assert held == ["rsib", "tib"]
