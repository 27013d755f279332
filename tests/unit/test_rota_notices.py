"""The gaps in a duty schedule as an RSIB hears of them, on the injected clock and a real database: each gap once,
with its real start and end, reminded once within the day before it begins; the hourly looks, restarts, reloads
and calendar changes tell nothing twice (a week of looks, and a state machine over them)."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot.config import Settings, parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.feeds import ical
from bot.feeds.http import FeedFault
from bot.runtime.dispatch import Dispatcher
from bot.runtime.rotas import Rotas
from bot.state import repo
from bot.state.db import Database
from bot.state.models import OutboxMessage

TZ = ZoneInfo("Europe/Stockholm")
HOME = "#nacka:lst.test"
RSIB = "@rasmus:lst.test"
REMINDER = "Om mindre än ett dygn: "


def config() -> Settings:
    return parse_settings({
        "bot": {"rota_gaps_to": "rsib"},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:lst.test"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"},
                         {"id": "nacka", "name": "Nacka kommun", "home_room": HOME}],
        "function": [{"id": "tib", "organisation": "lst", "name": "TiB", "holders": ["@tove:lst.test"],
                      "may_convene": True},
                     {"id": "rsib", "organisation": "lst", "name": "RSIB", "holders": [RSIB]},
                     {"id": "nacka-tib", "organisation": "nacka", "name": "TiB, Nacka kommun",
                      "holders": ["@nacka:lst.test"], "schedule": "https://nacka.test/tib.ics"}],
        "forum": [{"id": "f", "name": "Forum", "level": "samordnande", "room": "#f:lst.test", "chair": "tib",
                   "ordinary": ["tib", "rsib"]}],
        "person": [{"user": "@anna:lst.test", "name": "Anna Berg", "email": "anna@nacka.se"},
                   {"user": "@olle:lst.test", "name": "Olle Olsson"}],
    })


def calendar(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\nUID:{i}\r\nDTSTAMP:20261001T000000Z\r\n{e.replace(chr(10), chr(13) + chr(10))}"
                   f"\r\nEND:VEVENT\r\n" for i, e in enumerate(events))
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Nacka kommun//Beredskap//SV\r\n"
    return f"{head}{body}END:VCALENDAR\r\n".encode()


# Anna has the weekends, Friday 17:00 to Monday 07:00, as the municipality writes it; the weekdays are nobody's.
WEEKENDS = ("SUMMARY:TiB: Anna Berg\nDTSTART;TZID=Europe/Stockholm:20260102T170000\n"
            "DTEND;TZID=Europe/Stockholm:20260105T070000\nRRULE:FREQ=WEEKLY")
WEEKDAY_OLLE = ("SUMMARY:Beredskap – Olle Olsson\nDTSTART;TZID=Europe/Stockholm:20261005T070000\n"
                "DTEND;TZID=Europe/Stockholm:20261007T070000\nRRULE:FREQ=WEEKLY")  # Monday and Tuesday
UNKNOWN_MAJA = ("SUMMARY:Jour: Maja Svensson\nDTSTART;TZID=Europe/Stockholm:20261008T070000\n"
                "DTEND;TZID=Europe/Stockholm:20261008T190000\nRRULE:FREQ=WEEKLY")  # every Thursday, nobody known
OVERLAP_OLLE = ("SUMMARY:Olle Olsson\nDTSTART;TZID=Europe/Stockholm:20261003T100000\n"
                "DTEND;TZID=Europe/Stockholm:20261003T120000\nRRULE:FREQ=WEEKLY")  # Saturdays, beside Anna


class Bot:
    """The duty schedules' run-time part as the App wires it, on one database; what it tells is recorded."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        self.url, self.clock = url, clock
        self.told: list[tuple[str, str]] = []  # (target, body), in order
        self.body = calendar(WEEKENDS)
        self.db: Database | None = None
        self.rotas: Rotas | None = None

    async def start(self) -> None:
        """A start: a fresh process that reads its stored calendar before anything else."""
        self.db = Database(self.url)
        await self.db.migrate()
        settings = config()
        directory = Directory.build(settings)
        dispatch = Dispatcher(self.db, directory, self.clock, on_enqueued=self._enqueued, bot_user="@bot:lst.test")
        self.rotas = Rotas(self.db, dispatch, self.clock, lambda: (settings, directory))
        await self.rotas.changed("nacka-tib", ical.read(self.body))

    def _enqueued(self, tables: frozenset[str], rows: list[OutboxMessage]) -> None:
        self.told += [(row.target, json.loads(row.content)["message"]["body"]) for row in rows]

    async def stop(self) -> None:
        if self.db is not None:
            await self.db.close()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def hourly(self) -> None:
        assert self.rotas is not None
        await self.rotas.hourly()

    async def serve(self, body: bytes) -> None:
        """The municipality edits its calendar: the feed delivers it."""
        assert self.rotas is not None
        self.body = body
        await self.rotas.changed("nacka-tib", ical.read(body))

    def home(self) -> list[str]:
        return [body for target, body in self.told if target == HOME]


def weekday_gaps(first: datetime, last: datetime) -> dict[str, datetime]:
    """The sentences for the weekday gaps (Monday 07:00 to Friday 17:00) under way between first and last, and
    when each begins."""
    days = ["mån", "tis", "ons", "tor", "fre", "lör", "sön"]
    months = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]

    def shown(instant: datetime, told: datetime) -> str:
        year = f" {instant.year}" if instant.year != told.astimezone(TZ).year else ""
        return f"{days[instant.weekday()]} {instant.day} {months[instant.month - 1]}{year} {instant:%H:%M}"

    found = {}
    monday = first.astimezone(TZ).date() - timedelta(days=first.astimezone(TZ).weekday())
    while True:
        start = datetime(monday.year, monday.month, monday.day, 7, tzinfo=TZ)
        end = start + timedelta(days=4, hours=10)
        if start >= last:
            return found
        if end > first:
            told = max(first, start - timedelta(days=14))  # a year is shown when it is not that of the telling
            found[f"Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) {shown(start, told)} – {shown(end, told)} "
                  "(beredskapsschemat)."] = start
        monday += timedelta(days=7)


@pytest.mark.parametrize("first", [
    datetime(2026, 11, 2, 9, tzinfo=TZ),  # an ordinary week, a gap under way at the first look
    datetime(2026, 10, 22, 9, tzinfo=TZ),  # across the switch to winter time (Sunday 25 October)
    datetime(2026, 3, 26, 9, tzinfo=TZ),  # across the switch to summer time (Sunday 29 March)
    datetime(2026, 12, 28, 9, tzinfo=TZ),  # across the year end
], ids=["november", "winter-time", "summer-time", "year-end"])
async def test_a_week_of_hourly_looks_tells_each_gap_of_a_weekend_only_calendar_exactly_once(
        tmp_path: Path, first: datetime) -> None:
    clock = FakeClock(first.astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    await bot.start()
    try:
        for hour in range(1, 7 * 24 + 1):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
            if hour == 50:  # a restart in the middle of a gap
                await bot.restart()
            if hour == 100:  # the same calendar delivered again (a poll with a whole answer, a reload)
                await bot.serve(bot.body)
        last = clock.now()
    finally:
        await bot.stop()
    gaps = weekday_gaps(first, last + timedelta(days=14))
    home = bot.home()
    told = [body for body in home if not body.startswith(REMINDER)]
    assert Counter(told) == Counter(list(gaps)), "each gap told exactly once, and nothing else"
    reminders = [_yearless(body.removeprefix(REMINDER)) for body in home if body.startswith(REMINDER)]
    due = [_yearless(gap) for gap, start in gaps.items()
           if first + timedelta(hours=24) < start <= last + timedelta(hours=24)]
    assert Counter(reminders) == Counter(due), "reminded once, within the day before the gap begins"
    direct = [body for target, body in bot.told if target == f"user:{RSIB}"]
    assert direct == home, "the RSIB hears the same, as often"
    assert all("minst till" not in body for body in home), "the end of each gap is in view: no horizon shown"


def _yearless(sentence: str) -> str:
    """A sentence as told in any year (a reminder in January names no year the notice in December named)."""
    return re.sub(r" 20\d\d ", " ", sentence)


async def test_a_gap_reaching_past_what_is_read_says_minst_till_and_is_not_told_again_when_its_end_comes_into_view(
        tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = calendar("SUMMARY:Anna Berg\nDTSTART;TZID=Europe/Stockholm:20261101T070000\n"
                        "DTEND;TZID=Europe/Stockholm:20261110T070000",
                        "SUMMARY:Anna Berg\nDTSTART;TZID=Europe/Stockholm:20261215T070000\n"
                        "DTEND;TZID=Europe/Stockholm:20261222T070000")
    await bot.start()
    try:
        assert bot.home() == ["Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) tis 10 nov 07:00 – minst till "
                              "mån 23 nov (beredskapsschemat)."], "the end is not known: a lower bound, a day"
        for _ in range(24 * 20):  # until the gap's real end (15 December) has come into view, and beyond
            clock.advance(timedelta(hours=1))
            await bot.hourly()
    finally:
        await bot.stop()
    assert bot.home()[1:] == [REMINDER + "Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) tis 10 nov 07:00 – minst "
                              "till mån 30 nov (beredskapsschemat)."], \
        "reminded once the day before; the same gap, seen further (to 15 December), is not told again"


async def test_a_person_nobody_knows_is_one_notice_and_two_on_duty_are_shown_by_name(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = calendar(WEEKENDS, WEEKDAY_OLLE, UNKNOWN_MAJA, OVERLAP_OLLE)
    await bot.start()
    try:
        for _ in range(3 * 24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
        await bot.restart()
    finally:
        await bot.stop()
    unknown = [body for body in bot.home() if "Maja" in body]
    assert unknown == [
        "Maja Svensson står som TiB, Nacka kommun (Nacka kommun) tor 5 nov 07:00 – tor 5 nov 19:00 (och 1 pass till de "
        "närmaste 14 dagarna) i beredskapsschemat men är ingen jag känner: lägg till personen som [[person]] i "
        "konfigurationen.",
        REMINDER + "Maja Svensson står som TiB, Nacka kommun (Nacka kommun) tor 5 nov 07:00 – tor 5 nov 19:00 (och 1 "
        "pass till de närmaste 14 dagarna) i beredskapsschemat men är ingen jag känner: lägg till personen som "
        "[[person]] i konfigurationen."], "one notice for the name, not one for each Thursday; reminded once"
    overlaps = [body for body in bot.home() if body.startswith("Två i tjänst")]
    assert overlaps == [
        "Två i tjänst samtidigt som TiB, Nacka kommun (Nacka kommun) lör 7 nov 10:00 – lör 7 nov 12:00: Anna Berg, "
        "Olle Olsson (beredskapsschemat).",
        "Två i tjänst samtidigt som TiB, Nacka kommun (Nacka kommun) lör 14 nov 10:00 – lör 14 nov 12:00: Anna Berg, "
        "Olle Olsson (beredskapsschemat)."], "by the names the calendar and [[person]] give, never a Matrix id"
    assert not any("@" in body for body in bot.home())


def test_the_state_machine_over_looks_clock_restarts_and_calendar_changes(tmp_path: Path) -> None:
    """Each gap told at most once and reminded at most once, whatever happens in between."""
    Looks.directory = tmp_path
    Looks.TestCase.settings = settings(max_examples=12, stateful_step_count=25, deadline=None,
                                       suppress_health_check=list(HealthCheck))
    Looks.TestCase().runTest()


def _edges(sentence: str) -> tuple[str, str | None, str | None] | None:
    """(kind, start, end) of a gap or overlap as told ('fram till …': no start); None for anything else."""
    found = re.search(r"\(Nacka kommun\) (.+?)(?: \(beredskapsschemat\)|: )", sentence)
    if found is None or " står som " in sentence:
        return None
    kind, span = sentence.split(" ", 1)[0], found.group(1)
    if span.startswith(("fram till ", "nu och minst till ")):
        return kind, None, span.split(" till ", 1)[1]
    start, end = span.split(" – ", 1)
    return kind, start, end.removeprefix("minst till ")


CALENDARS = [calendar(WEEKENDS), calendar(WEEKENDS, WEEKDAY_OLLE), calendar(WEEKENDS, UNKNOWN_MAJA),
             calendar(WEEKENDS, OVERLAP_OLLE, UNKNOWN_MAJA), calendar(WEEKENDS, WEEKDAY_OLLE, UNKNOWN_MAJA)]


class Looks(RuleBasedStateMachine):
    directory: Path
    runs = 0

    def __init__(self) -> None:
        super().__init__()
        Looks.runs += 1
        self.changed_at = 0
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(datetime(2026, 10, 21, 9, tzinfo=TZ).astimezone(UTC))
        self.bot = Bot(f"sqlite+aiosqlite:///{self.directory / f'run{Looks.runs}.db'}", self.clock)

    def run(self, step: Any) -> None:
        self.loop.run_until_complete(step)

    @initialize()
    def start(self) -> None:
        self.run(self.bot.start())

    @rule()
    def look(self) -> None:
        self.run(self.bot.hourly())

    @rule(hours=st.integers(min_value=1, max_value=30))
    def advance(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        self.run(self.bot.hourly())

    @rule()
    def restart(self) -> None:
        self.run(self.bot.restart())

    @rule(which=st.integers(min_value=0, max_value=len(CALENDARS) - 1))
    def change(self, which: int) -> None:
        self.changed_at = len(self.bot.home())  # a changed calendar may have new gaps that share a start or end
        self.run(self.bot.serve(CALENDARS[which]))

    @precondition(lambda self: self.bot.rotas is not None)
    @invariant()
    def told_at_most_once_and_reminded_at_most_once(self) -> None:
        home = self.bot.home()
        told = Counter(body for body in home if not body.startswith(REMINDER))
        reminded = Counter(body for body in home if body.startswith(REMINDER))
        assert max(told.values(), default=0) <= 1, told
        assert max(reminded.values(), default=0) <= 1, reminded
        unknown = Counter(body.split(" står som ")[0] for body in told if " står som " in body)
        assert max(unknown.values(), default=0) <= 1, "one notice for a person the bot does not know"
        since = [_edges(body) for body in home[self.changed_at:] if not body.startswith(REMINDER)]
        for edge in (0, 1):  # one calendar: a gap is never told again from another start, or to another end
            seen = Counter((kind, edges[edge]) for kind, *edges in filter(None, since) if edges[edge] is not None)
            assert max(seen.values(), default=0) <= 1, seen

    def teardown(self) -> None:
        self.run(self.bot.stop())
        self.loop.close()


ALL_DAY_WEEKENDS = calendar("SUMMARY:Beredskap – Anna Berg\nDTSTART;VALUE=DATE:20260103\nDTEND;VALUE=DATE:20260105\n"
                            "RRULE:FREQ=WEEKLY\nEXDATE;VALUE=DATE:20261114")  # Saturday and Sunday, not 14-15 Nov


async def week_of_looks(tmp_path: Path, body: bytes, first: datetime) -> list[str]:
    """What the home room is told over a week of hourly looks from `first`, with a restart in the middle."""
    clock = FakeClock(first.astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = body
    await bot.start()
    try:
        for hour in range(1, 7 * 24 + 1):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
            if hour == 80:
                await bot.restart()
    finally:
        await bot.stop()
    return bot.home()


async def test_all_day_weekends_with_one_taken_out_are_told_as_the_gaps_they_leave_once_each(tmp_path: Path) -> None:
    home = await week_of_looks(tmp_path, ALL_DAY_WEEKENDS, datetime(2026, 11, 2, 9, tzinfo=TZ))
    gap = "Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) {} (beredskapsschemat)."
    assert home == [gap.format("mån 2 nov 00:00 – lör 7 nov 00:00"),
                    gap.format("mån 9 nov 00:00 – lör 21 nov 00:00"),
                    REMINDER + gap.format("mån 9 nov 00:00 – lör 21 nov 00:00"),
                    gap.format("mån 23 nov 00:00 – lör 28 nov 00:00")], \
        "the weekend an EXDATE takes out joins two weeks into one gap, told once and reminded once"


async def test_all_day_weekends_across_the_switch_to_winter_time(tmp_path: Path) -> None:
    home = await week_of_looks(tmp_path, ALL_DAY_WEEKENDS, datetime(2026, 10, 22, 9, tzinfo=TZ))
    gap = "Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) {} (beredskapsschemat)."
    assert home == [gap.format("mån 19 okt 00:00 – lör 24 okt 00:00"),
                    gap.format("mån 26 okt 00:00 – lör 31 okt 00:00"),
                    gap.format("mån 2 nov 00:00 – lör 7 nov 00:00"),
                    REMINDER + gap.format("mån 26 okt 00:00 – lör 31 okt 00:00"),
                    gap.format("mån 9 nov 00:00 – minst till mån 16 nov")], \
        "a gap under way told from its real start; one reaching past what is read says 'minst till', once"


async def test_what_an_earlier_version_told_is_not_told_again_after_the_upgrade(tmp_path: Path) -> None:
    """Earlier versions keyed a gap by its start, or by its end once it had begun."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    db = Database(url)
    await db.migrate()
    told = json.dumps({"told": "2026-11-01T09:00:00+00:00", "reminded": False})
    await db.write(lambda session: repo.set_values(session, {
        "rota_gap:nacka-tib:gap:2026-11-06T17:00:00+01:00": told,  # under way: its end
        "rota_gap:nacka-tib:gap:2026-11-09T07:00:00+01:00": told,  # ahead: its start
        "rota_gap:nacka-tib:gap:2026-10-02T07:00:00+02:00": told}))  # long over
    await db.close()
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(url, clock)
    await bot.start()
    try:
        assert bot.home() == ["Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) mån 16 nov 07:00 – fre 20 nov "
                              "17:00 (beredskapsschemat)."], "only the gap nobody was told of"
        for _ in range(7 * 24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
        assert bot.db is not None
        async with bot.db.session() as session:
            keys = set(await repo.values_under(session, "rota_gap:nacka-tib:"))
    finally:
        await bot.stop()
    assert [body for body in bot.home() if body.startswith(REMINDER)] == [
        REMINDER + "Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) mån 9 nov 07:00 – fre 13 nov 17:00 "
        "(beredskapsschemat)."], "its reminder still comes, once"
    assert "gap:2026-10-02T07:00:00+02:00" not in keys and all("/" in key for key in keys), \
        "the old keys are kept under the new ones, and one long over is forgotten"


async def test_a_calendar_written_again_in_utc_or_as_an_outlook_zone_tells_nothing_again(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = calendar("SUMMARY:Anna Berg\nDTSTART;TZID=Europe/Stockholm:20261101T070000\n"
                        "DTEND;TZID=Europe/Stockholm:20261110T070000",
                        "SUMMARY:Anna Berg\nDTSTART;TZID=Europe/Stockholm:20261112T070000\n"
                        "DTEND;TZID=Europe/Stockholm:20261130T070000")
    zone = ("BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n"
            "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
            "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
    await bot.start()
    try:
        await bot.serve(calendar("SUMMARY:Anna Berg\nDTSTART:20261101T060000Z\nDTEND:20261110T060000Z",
                                 "SUMMARY:Anna Berg\nDTSTART:20261112T060000Z\nDTEND:20261130T060000Z"))
        clock.advance(timedelta(hours=1))
        await bot.hourly()
        outlook = calendar("SUMMARY:Anna Berg\nDTSTART;TZID=W. Europe Standard Time:20261101T070000\n"
                           "DTEND;TZID=W. Europe Standard Time:20261110T070000",
                           "SUMMARY:Anna Berg\nDTSTART;TZID=W. Europe Standard Time:20261112T070000\n"
                           "DTEND;TZID=W. Europe Standard Time:20261130T070000")
        await bot.serve(outlook.replace(b"BEGIN:VEVENT", zone.encode() + b"BEGIN:VEVENT", 1))
        clock.advance(timedelta(hours=1))
        await bot.hourly()
    finally:
        await bot.stop()
    assert bot.home() == ["Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) tis 10 nov 07:00 – tor 12 nov 07:00 "
                          "(beredskapsschemat)."], "the same instants, written otherwise: the same gap"


SOLNA_HOME = "#solna:lst.test"


async def test_a_calendar_that_cannot_be_expanded_keeps_its_last_shifts_and_stops_no_other_schedule(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Solna's calendar delivered with a rule the expansion trips on: a fault for Solna's feed (its last good shifts
    stay), logged once; Nacka's gaps are told through the week all the same, and no hourly look raises."""
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await db.migrate()
    settings = parse_settings({
        "bot": {"rota_gaps_to": "rsib"},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:lst.test"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"},
                         {"id": "nacka", "name": "Nacka kommun", "home_room": HOME},
                         {"id": "solna", "name": "Solna stad", "home_room": SOLNA_HOME}],
        "function": [{"id": "rsib", "organisation": "lst", "name": "RSIB", "holders": [RSIB]},
                     {"id": "nacka-tib", "organisation": "nacka", "name": "TiB, Nacka kommun",
                      "holders": ["@nacka:lst.test"], "schedule": "https://nacka.test/tib.ics"},
                     {"id": "solna-tib", "organisation": "solna", "name": "TiB, Solna stad",
                      "holders": ["@solna:lst.test"], "schedule": "https://solna.test/tib.ics"}],
        "person": [{"user": "@anna:lst.test", "name": "Anna Berg"}]})
    directory = Directory.build(settings)
    told: list[tuple[str, str]] = []
    dispatch = Dispatcher(db, directory, clock, bot_user="@bot:lst.test", on_enqueued=lambda _, rows: told.extend(
        (row.target, json.loads(row.content)["message"]["body"]) for row in rows))
    rotas = Rotas(db, dispatch, clock, lambda: (settings, directory))
    try:
        await rotas.changed("nacka-tib", ical.read(calendar(WEEKENDS)))
        await rotas.changed("solna-tib", ical.read(calendar(WEEKENDS)))
        solna = dispatch.schedules["solna-tib"]
        broken = icalendar.Calendar.from_ical(calendar(WEEKENDS.replace("FREQ=WEEKLY", "FREQ=FORTNIGHTLY")))
        with pytest.raises(FeedFault):  # what the poller counts as a fault: the feed reads as stale
            await rotas.changed("solna-tib", list(broken.walk("VEVENT")))
        assert dispatch.schedules["solna-tib"] is solna, "Solna's last good shifts stay"
        before = Counter(target for target, _ in told)
        for _ in range(7 * 24):
            clock.advance(timedelta(hours=1))
            await rotas.hourly()
    finally:
        await db.close()
    after = Counter(target for target, _ in told)
    assert before[HOME] == before[SOLNA_HOME] == 3
    assert after[HOME] - before[HOME] == after[SOLNA_HOME] - before[SOLNA_HOME] == 2, \
        "each municipality told its next weekday gap and one reminder, Solna from its last good copy"
    failed = [r for r in caplog.records if "could not be expanded" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None and "incident" in failed[0].getMessage()


def shift(day: int, end_day: int, summary: str = "TiB: Anna Berg") -> str:
    return (f"SUMMARY:{summary}\nDTSTART;TZID=Europe/Stockholm:202611{day:02d}T070000\n"
            f"DTEND;TZID=Europe/Stockholm:202611{end_day:02d}T070000")


async def test_a_gap_that_grows_past_what_is_read_is_a_new_gap_told_once(tmp_path: Path) -> None:
    """Anna covers 1-10 and 12-30 November; the gap 10-12 November is told. The later block is cancelled: from the
    10th nobody is on duty as far as is read, told once; then the calendar is emptied for good, told once."""
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = calendar(shift(1, 10), shift(12, 30))
    gap = "Ingen i tjänst som TiB, Nacka kommun (Nacka kommun) {} (beredskapsschemat)."
    await bot.start()
    try:
        assert bot.home() == [gap.format("tis 10 nov 07:00 – tor 12 nov 07:00")]
        clock.advance(timedelta(minutes=15))
        await bot.serve(calendar(shift(1, 10)))
        for _ in range(24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
        grown = len(bot.home())
        await bot.serve(calendar())
        for _ in range(24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
        await bot.restart()
    finally:
        await bot.stop()
    assert bot.home()[1:grown] == [gap.format("tis 10 nov 07:00 – minst till mån 23 nov")], \
        "the grown gap told once, not matched to the closed one told before, nor told again as the days pass"
    assert bot.home()[grown:] == [gap.format("nu och minst till tis 24 nov")], "an emptied calendar: told once"


async def test_summaries_that_name_nobody_a_mistyped_id_and_names_with_notes_are_told_as_an_rsib_expects(
        tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = calendar(shift(2, 3, "TiB: "), shift(3, 4, "TiB:"), "DTSTART;TZID=Europe/Stockholm:20261104T070000\n"
                        "DTEND;TZID=Europe/Stockholm:20261105T070000", shift(5, 6, "TiB: @anan:lst.test"),
                        shift(6, 7, "TiB: Anna  Berg"), shift(7, 8, "Jour – Anna Berg (ersätter Bo)"),
                        shift(8, 9, "TiB – Anna Berg, 070-1234567"), shift(9, 10, "Anna Berg – TiB"),
                        shift(10, 11, "Jour – @anna:lst.test"), shift(11, 30, "TiB: Maja Svensson, 08-123 456 78"))
    await bot.start()
    try:
        for _ in range(3 * 24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
        await bot.restart()
    finally:
        await bot.stop()
    told = [body for body in bot.home() if not body.startswith(REMINDER)]
    assert told == [
        "Ett pass som TiB, Nacka kommun (Nacka kommun) mån 2 nov 07:00 – tor 5 nov 07:00 i beredskapsschemat namnger "
        "ingen (pass utan namn): skriv vem som har passet i händelsens rubrik. Tills dess gäller rotationen eller de "
        "listade innehavarna.",
        "@anan:lst.test står som TiB, Nacka kommun (Nacka kommun) tor 5 nov 07:00 – fre 6 nov 07:00 i "
        "beredskapsschemat men är ingen jag känner: lägg till personen som [[person]] i konfigurationen.",
        "Maja Svensson står som TiB, Nacka kommun (Nacka kommun) ons 11 nov 07:00 – minst till mån 23 nov i "
        "beredskapsschemat men är ingen jag känner: lägg till personen som [[person]] i konfigurationen."], \
        "one nameless notice for three shifts in a row; Anna Berg read in every spelling; the mistyped id told once"
    assert not any(" 070" in body or " 08-" in body or body.startswith((" ", "TiB")) for body in bot.home()), \
        "no phone number repeated, never an empty or label-only name"
    assert [body for body in bot.home() if body.startswith(REMINDER)] == [REMINDER + told[1]], \
        "reminded once the day before; the nameless stretch was under way at the first look"


async def test_an_unknown_name_beside_a_known_holder_is_told_once_and_told_again_when_back_after_it_was_forgotten(
        tmp_path: Path) -> None:
    maja = ("SUMMARY:Jour: Maja Svensson\nDTSTART;TZID=Europe/Stockholm:20261107T100000\n"
            "DTEND;TZID=Europe/Stockholm:20261107T120000")  # Saturday 7 November, beside Anna
    later = maja.replace("20261107", "20270206")  # back three months later
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    bot.body = calendar(WEEKENDS, maja)
    await bot.start()
    try:
        kept = []
        for _ in range(16 * 24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
            assert bot.db is not None
            async with bot.db.session() as session:
                kept.append("unknown:maja svensson" in await repo.values_under(session, "rota_gap:nacka-tib:"))
        assert kept.index(False) == 24 * 12 + 3, "forgotten a week after the shift it was named for (7 Nov 12:00)"
        await bot.serve(calendar(WEEKENDS, maja, later))  # the name back in the calendar, months ahead
        clock.advance(timedelta(days=75))
        for _ in range(2 * 24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
    finally:
        await bot.stop()
    unknown = [body for body in bot.home() if "Maja" in body]
    assert unknown == [
        "Maja Svensson står som TiB, Nacka kommun (Nacka kommun) lör 7 nov 10:00 – lör 7 nov 12:00 i "
        "beredskapsschemat men är ingen jag känner: lägg till personen som [[person]] i konfigurationen.",
        REMINDER + "Maja Svensson står som TiB, Nacka kommun (Nacka kommun) lör 7 nov 10:00 – lör 7 nov 12:00 i "
        "beredskapsschemat men är ingen jag känner: lägg till personen som [[person]] i konfigurationen.",
        "Maja Svensson står som TiB, Nacka kommun (Nacka kommun) lör 6 feb 10:00 – lör 6 feb 12:00 i "
        "beredskapsschemat men är ingen jag känner: lägg till personen som [[person]] i konfigurationen."], \
        "told beside Anna once and reminded once; forgotten a week after, so told again when back"
    assert not any(body.startswith("Två i tjänst") for body in bot.home()), "one known holder: no overlap"


async def test_an_hourly_look_that_trips_on_one_schedule_keeps_its_shifts_and_looks_at_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The expansion of one calendar fails at every hourly look (a rule dateutil trips on in a later window): its
    last shifts stay, it is logged once with an incident id, and the other schedules are looked at all the same."""
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=TZ).astimezone(UTC))
    bot = Bot(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", clock)
    await bot.start()
    assert bot.rotas is not None
    broken = ical.read(calendar(WEEKDAY_OLLE))
    await bot.rotas.changed("tib", broken)  # a second schedule, on the regional TiB
    entries = ical.entries

    def tripping(events: list[Any], *args: Any) -> list[Any]:
        if events is broken:
            raise RuntimeError("a rule the expansion trips on")
        return entries(events, *args)

    monkeypatch.setattr(ical, "entries", tripping)
    tib = bot.rotas.dispatch.schedules["tib"]
    try:
        for _ in range(7 * 24):
            clock.advance(timedelta(hours=1))
            await bot.hourly()
    finally:
        await bot.stop()
    assert bot.rotas.dispatch.schedules["tib"] is tib, "the shifts read before stay"
    gaps = weekday_gaps(datetime(2026, 11, 2, 9, tzinfo=TZ), clock.now() + timedelta(days=14))
    assert Counter(body for body in bot.home() if not body.startswith(REMINDER)) == Counter(list(gaps)), \
        "Nacka's gaps told as ever"
    failed = [r for r in caplog.records if "could not be expanded" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None and "incident" in failed[0].getMessage(), \
        "logged once, with its traceback and an incident id, not once an hour"
