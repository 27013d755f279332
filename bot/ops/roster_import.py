"""`python -m bot roster import FILE.csv --function nacka-tib`: a duty schedule kept in a spreadsheet, read into
the same shifts a calendar feed gives. Every row must be right, or nothing is written."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar

from bot.config import Settings
from bot.domain.rota import Entry, holder_of
from bot.state import feeds
from bot.state.db import Database

COLUMNS = {"start": "start", "från": "start", "from": "start", "end": "end", "slut": "end", "till": "end",
           "to": "end", "person": "person", "namn": "person", "name": "person", "vem": "person"}


@dataclass(frozen=True)
class Row:
    start: datetime
    end: datetime
    person: str


class RosterRefused(Exception):
    """Why the file was not imported: every wrong row, by its number."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _time(value: str, zone: ZoneInfo) -> datetime:
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def read_rows(text: str, settings: Settings, function_id: str) -> list[Row]:
    """The shifts of a CSV export (start, end, person; `,` `;` or tab), or RosterRefused naming each bad row."""
    function = next((f for f in settings.functions if f.id == function_id), None)
    if function is None:
        raise RosterRefused([f"unknown function '{function_id}'"])
    if function.schedule:
        raise RosterRefused([f"{function_id} has a schedule feed ({function.schedule}); import is for a function "
                            "without one"])
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text.strip() else ",", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    lines = list(csv.reader(io.StringIO(text), dialect))
    if not lines:
        raise RosterRefused(["the file is empty: a header row start, end, person is expected"])
    header = [COLUMNS.get(cell.strip().lower().lstrip("\ufeff")) for cell in lines[0]]
    missing = [name for name in ("start", "end", "person") if name not in header]
    if missing:
        raise RosterRefused([f"row 1: the header lacks {', '.join(missing)} (expected start, end, person)"])
    zone = ZoneInfo(settings.bot.timezone)
    rows, errors = [], []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(header) if name}
        try:
            start, end = _time(values["start"], zone), _time(values["end"], zone)
        except ValueError:
            errors.append(f"row {number}: cannot read the times {values['start']!r}, {values['end']!r} "
                          "(write 2026-11-02 07:00)")
            continue
        person = values["person"].strip()
        if end <= start:
            errors.append(f"row {number}: the shift ends before it starts")
        elif holder_of(Entry(start, end, (person,) if "@" in person and ":" not in person else (), person),
                       settings.people, function.holders) is None:
            errors.append(f"row {number}: '{person}' is nobody the configuration knows (add a [[person]] "
                          "with this name or e-mail address)")
        else:
            rows.append(Row(start, end, person))
    if errors:
        raise RosterRefused(errors)
    return rows


def as_calendar(rows: list[Row], function_id: str) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Samverkan bot//roster import//SV")
    calendar.add("version", "2.0")
    for i, row in enumerate(rows):
        event = icalendar.Event()
        event.add("uid", f"import-{function_id}-{i}")
        event.add("dtstamp", datetime.now(UTC))
        event.add("dtstart", row.start)
        event.add("dtend", row.end)
        if "@" in row.person and ":" not in row.person:
            event.add("attendee", f"mailto:{row.person}")
        event.add("summary", row.person)
        calendar.add_component(event)
    return str(calendar.to_ical().decode())


async def import_file(settings: Settings, name: str, text: str, function_id: str) -> int:
    """Store the shifts of the file `name` as the function's schedule; returns how many."""
    rows = read_rows(text, settings, function_id)
    body = as_calendar(rows, function_id)
    db = Database(settings.database.url)
    try:
        await db.migrate()
        await db.write(lambda session: feeds.good(session, feeds.schedule(function_id), feeds.IMPORTED + name,
                                                  datetime.now(UTC), body=body,
                                                  digest=hashlib.sha256(body.encode()).hexdigest()))
    finally:
        await db.close()
    return len(rows)
