"""Compiling the situation picture: a week of 40 organisations with a year of history in the database.

Times the bot's path (the repository query through SQLModel + aiosqlite, then the pure
compilation) next to a bare sqlite3 query of the same rows in the same run, and measures the
memory the compilation takes (tracemalloc peak) and the process's resident size.

    .venv/bin/python bench/lagesbild.py [--organisations 40] [--weeks 52] [--reports-per-week 3] [--runs 30]

Writes bench/results/lagesbild.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain.lagesbild import FIELD_KEYS, compile_reports, week_of  # noqa: E402
from bot.state import reports  # noqa: E402
from bot.state.db import Database  # noqa: E402
from bot.state.models import ReportRow  # noqa: E402

TZ = ZoneInfo("Europe/Stockholm")
RESULTS = ROOT / "bench" / "results"


async def fill(db: Database, organisations: int, weeks: int, per_week: int, now: datetime) -> int:
    rng = random.Random(47)
    rows = 0
    async with db.session() as session:
        for w in range(weeks):
            for org in range(organisations):
                for n in range(per_week):
                    at = now - timedelta(weeks=w, hours=rng.randint(0, 100), minutes=n)
                    year, week = week_of(at, TZ)
                    fields = {k: f"{k} {org} {w} " + "text " * rng.randint(3, 30)
                              for k in rng.sample(FIELD_KEYS, rng.randint(0, 5))}
                    session.add(ReportRow(forum_id="samordnande", organisation_id=f"org{org}",
                                          function_id=f"org{org}-tib", author=f"@u{org}:example.org", at=at,
                                          year=year, week=week, raw="…", text="läget " * rng.randint(5, 60),
                                          fields=json.dumps(fields, ensure_ascii=False)))
                    rows += 1
    return rows


async def bot_compile(db: Database, year: int, week: int, expected: list[str]) -> int:
    async with db.session() as session:
        rows = await reports.of_week(session, "samordnande", year, week)
    compiled = compile_reports([reports.domain(r) for r in rows], expected)
    return compiled.coverage[0]


def bare_query(path: str, year: int, week: int) -> int:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT organisation_id, text, fields FROM report WHERE forum_id = ? AND year = ? "
                            "AND week = ? ORDER BY at", ("samordnande", year, week)).fetchall()
        latest = {org: (text, json.loads(fields)) for org, text, fields in rows}
        return len(latest)
    finally:
        conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisations", type=int, default=40)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--reports-per-week", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    now = datetime.now(UTC)
    year, week = week_of(now, TZ)
    expected = [f"org{i}" for i in range(args.organisations)]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.db")
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.migrate()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        rows = await fill(db, args.organisations, args.weeks, args.reports_per_week, now)
        fill_s = time.perf_counter() - started
        bot_times, bare_times = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            covered = await bot_compile(db, year, week, expected)
            bot_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bare_query(path, year, week)
            bare_times.append(time.perf_counter() - t0)
        tracemalloc.start()
        await bot_compile(db, year, week, expected)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await db.close()
        size = await asyncio.to_thread(os.path.getsize, path)
    result = {
        "when": datetime.now().isoformat(timespec="seconds"), "organisations": args.organisations,
        "history_rows": rows, "database_bytes": size, "fill_s": round(fill_s, 2), "covered": covered,
        "bot_compile_median_ms": round(statistics.median(bot_times) * 1000, 2),
        "bare_sqlite_median_ms": round(statistics.median(bare_times) * 1000, 2),
        "ratio": round(statistics.median(bot_times) / statistics.median(bare_times), 2),
        "compile_peak_kib": round(peak / 1024, 1), "max_rss_mib_before": round(rss_before / 1024, 1),
        "max_rss_mib_after": round(rss_after / 1024, 1),
    }
    print(f"{rows} reports in history ({size / 1e6:.1f} MB); compiling week {week} of {args.organisations} "
          f"organisations: bot {result['bot_compile_median_ms']} ms, bare sqlite3 "
          f"{result['bare_sqlite_median_ms']} ms (ratio {result['ratio']}), peak {result['compile_peak_kib']} KiB, "
          f"max RSS {result['max_rss_mib_after']} MiB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lagesbild.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {(RESULTS / 'lagesbild.json').relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
