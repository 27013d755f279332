"""Duty schedules at the region's size: 84 functions, each with a year of shifts in its own calendar feed.

Half the feeds are written as most calendar programs export a rota (one event per shift: a week, split at
weekends in every fourth feed), half as a repeating event with exceptions (RRULE, EXDATE, moved occurrences).
Measured in the same run, each as the median of several rounds:

- `icalendar` parsing all 84 feeds alone (the baseline: the least any reader of the format does);
- the bot reading them (`ical.read`: parsing and checking every start) and expanding them into shifts over the
  window it keeps (a week back, three weeks ahead), mapped to people;
- the same expansion over the whole year, for reference;
- "who holds X now" for all 84 functions through the roster, as a convocation asks it;
- one look ahead at all 84 schedules: the gaps, unknown names and overlaps with their real start and end, as
  the hourly look finds them (before it reads what it has told).

    .venv/bin/python bench/rotas.py [--functions 84] [--rounds 5]

Writes bench/results/rotas.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import parse_settings  # noqa: E402
from bot.domain import rota  # noqa: E402
from bot.domain.directory import Directory  # noqa: E402
from bot.domain.roster import Roster  # noqa: E402
from bot.feeds import ical  # noqa: E402
from bot.flows import rota as rota_flow  # noqa: E402
from bot.runtime import rotas  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TZ = ZoneInfo("Europe/Stockholm")
YEAR = datetime(2026, 1, 2, 7, tzinfo=TZ)  # the first Friday 07:00 hand-over of the year
NOW = datetime(2026, 10, 26, 10, tzinfo=UTC)


def stamp(instant: datetime) -> str:
    return instant.strftime("%Y%m%dT%H%M%S")


def event(uid: str, start: datetime, end: datetime, who: str, extra: str = "") -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20251201T000000Z\r\nSUMMARY:Beredskap TiB\r\n"
            f"ATTENDEE;CN={who}:mailto:{who}@example.org\r\nDTSTART;TZID=Europe/Stockholm:{stamp(start)}\r\n"
            f"DTEND;TZID=Europe/Stockholm:{stamp(end)}\r\n{extra}END:VEVENT\r\n")


def feed(n: int) -> bytes:
    """A year of one function's shifts, among four people."""
    people = [f"p{n}-{k}" for k in range(4)]
    events: list[str] = []
    if n % 2 == 0:  # one event per shift, as exported
        for week in range(52):
            start = YEAR + timedelta(weeks=week)
            who = people[week % 4]
            if n % 4 == 0:  # weekdays and the weekend by different people
                events.append(event(f"{n}-{week}-a", start, start + timedelta(days=3), who))
                events.append(event(f"{n}-{week}-b", start + timedelta(days=3), start + timedelta(days=7),
                                    people[(week + 1) % 4]))
            else:
                events.append(event(f"{n}-{week}", start, start + timedelta(days=7), who))
    else:  # a repeating event per person, with exceptions
        for k, who in enumerate(people):
            first = YEAR + timedelta(weeks=k)
            excluded = first + timedelta(weeks=4 * (5 + k))
            events.append(event(f"{n}-r{k}", first, first + timedelta(days=7), who,
                                f"RRULE:FREQ=WEEKLY;INTERVAL=4;COUNT=13\r\n"
                                f"EXDATE;TZID=Europe/Stockholm:{stamp(excluded)}\r\n"))
            events.append(event(f"{n}-r{k}", excluded + timedelta(hours=5), excluded + timedelta(days=7), who,
                                f"RECURRENCE-ID;TZID=Europe/Stockholm:{stamp(excluded)}\r\n"))
    body = "".join(events)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//rota//SV\r\n{body}END:VCALENDAR\r\n").encode()


def settings(functions: int) -> Any:
    people = [{"user": f"@p{n}-{k}:example.org", "name": f"P {n} {k}", "email": f"p{n}-{k}@example.org"}
              for n in range(functions) for k in range(4)]
    return parse_settings({
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:example.org"},
        "organisation": [{"id": "org", "name": "Org"}],
        "function": [{"id": f"f{n}", "organisation": "org", "name": f"F {n}", "may_convene": n == 0,
                      "schedule": f"https://example.org/f{n}.ics"} for n in range(functions)],
        "person": people})


def timed(run: Any, rounds: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(rounds):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--functions", type=int, default=84)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bodies = [feed(n) for n in range(args.functions)]
    config = settings(args.functions)
    directory = Directory.build(config)
    window = (NOW - rotas.BACK, NOW + rota_flow.LOOK_AHEAD + rotas.BEYOND)  # as the bot keeps them
    year = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))

    def parse_only() -> int:
        return sum(len(icalendar.Calendar.from_ical(body).walk("VEVENT")) for body in bodies)

    def expand(span: tuple[datetime, datetime]) -> Any:
        def run() -> dict[str, rota.Schedule]:
            schedules = {}
            for n, body in enumerate(bodies):
                entries = ical.entries(ical.read(body), TZ, *span)
                schedules[f"f{n}"] = rota.Schedule(f"f{n}", tuple(rota.shifts(entries, config.people, ())))
            return schedules
        return run

    baseline, baseline_all, events = timed(parse_only, args.rounds)
    bot, bot_all, schedules = timed(expand(window), args.rounds)
    whole, whole_all, year_schedules = timed(expand(year), args.rounds)
    roster = Roster(directory, [], TZ, schedules)

    def who_holds() -> int:
        return sum(len(roster.duty(f"f{n}", NOW).holders) for n in range(args.functions))

    lookups = 100
    per_pass, _, held = timed(lambda: [who_holds() for _ in range(lookups)][-1], args.rounds)
    windowed = {name: replace(schedule, since=window[0], until=window[1]) for name, schedule in schedules.items()}

    def look() -> int:
        return sum(len(rota_flow.notices(rota.ahead(s, NOW, NOW + rota_flow.LOOK_AHEAD))) for s in windowed.values())

    per_look, _, found = timed(lambda: [look() for _ in range(10)][-1], args.rounds)
    shifts_year = sum(len(s.shifts) for s in year_schedules.values())
    assert held == args.functions, f"every function has a holder now ({held} of {args.functions})"
    result = {
        "functions": args.functions, "feed_events": events, "shifts_in_a_year": shifts_year,
        "feed_bytes": sum(len(b) for b in bodies), "rounds": args.rounds,
        "icalendar_parse_s": {"median": round(baseline, 4), "all": [round(t, 4) for t in baseline_all]},
        "bot_read_and_expand_window_s": {"median": round(bot, 4), "all": [round(t, 4) for t in bot_all]},
        "bot_read_and_expand_year_s": {"median": round(whole, 4), "all": [round(t, 4) for t in whole_all]},
        "ratio_window_to_parse": round(bot / baseline, 2),
        "ratio_year_to_parse": round(whole / baseline, 2),
        "who_holds_all_functions_ms": round(per_pass / lookups * 1000, 3),
        "who_holds_one_function_us": round(per_pass / lookups / args.functions * 1e6, 2),
        "look_ahead_all_functions_ms": round(per_look / 10 * 1000, 3),
        "look_ahead_notices": found,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rotas.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
