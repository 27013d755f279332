"""Homeserver outage: stop Synapse during activity, start it again, check nothing was lost or doubled.

A convocation of many holders is in progress, a scheduled meeting falls due while the homeserver
is down, and commands typed during the outage reach the homeserver when it is back. The bot must
reconnect by itself, deliver everything queued, run what fell due, and answer each command once.
Not part of `make test`; run it by hand:

    .venv/bin/python tests/soak/outage.py [--holders 40] [--down 60]

Prints the figures and writes bench/results/outage.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "soak"))

from crash_convocation import count_deliveries, forum_with_holders, request  # noqa: E402

from bot.app import App  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.domain.clock import FakeClock  # noqa: E402
from bot.domain.meetings import occurrences  # noqa: E402
from dev.devserver import one_forum, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TZ = ZoneInfo("Europe/Stockholm")
COMMANDS = 10


def replies(hs_db: Path, bot: str, room: str) -> dict[str, int]:
    """How many bot events reply to each event in the room."""
    counts: dict[str, int] = {}
    with sqlite3.connect(hs_db, timeout=30) as conn:
        for (raw,) in conn.execute("SELECT j.json FROM events e JOIN event_json j ON e.event_id = j.event_id "
                                   "WHERE e.sender = ? AND e.room_id = ?", (bot, room)):
            target = json.loads(raw).get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {})
            if target.get("event_id"):
                counts[target["event_id"]] = counts.get(target["event_id"], 0) + 1
    return counts


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=40)
    parser.add_argument("--down", type=float, default=60.0, help="seconds the homeserver is stopped")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with scratch_homeserver() as (tmp, hs):
        admin, bot, holders, room = forum_with_holders(hs, args.holders)
        convener = holders[0]
        meeting = {"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0"}
        settings = parse_settings(one_forum(hs, admin, bot, holders, tmp / "bot.db", ordinary=["f0", "f1"],
                                            activated=[f"f{i}" for i in range(len(holders))],
                                            meeting=[meeting]))
        starts = occurrences(settings.forums[0].meetings[0], datetime.now(UTC) + timedelta(days=2), TZ)[0]
        clock = FakeClock(starts - timedelta(hours=24, minutes=5))
        app = App(settings, clock=clock, env={"SAMVERKAN_PASSWORD": bot.password})
        await app.start()
        await app.wait_ready()

        def send(body: str) -> str:
            txn = uuid.uuid4().hex
            answer = request(hs, "PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}",
                             convener.access_token, {"msgtype": "m.text", "body": body})
            return str(answer["event_id"])

        send("!aktivera forum storm")
        await asyncio.sleep(0.3)  # the convocation is under way when the homeserver goes
        hs.stop()
        clock.advance(timedelta(minutes=10))  # the weekly meeting's convocation falls due meanwhile
        await asyncio.sleep(args.down)
        await hs.start_async()
        ready = time.monotonic()
        first = send("!status")
        typed = [send(f"!vem f{i % args.holders}") for i in range(COMMANDS)]  # typed while it was down
        first_answer = None
        while time.monotonic() - ready < 120:
            if replies(tmp / "synapse" / "homeserver.db", bot.user_id, room).get(first):
                first_answer = time.monotonic() - ready
                break
            await asyncio.sleep(0.1)
        await app.meetings.run_due()
        await asyncio.wait_for(app.outbox.idle.wait(), 300)
        await asyncio.sleep(2.0)
        await app.stop()
        ids = [h.user_id for h in holders]
        hs_db = tmp / "synapse" / "homeserver.db"
        dms, mentions = count_deliveries(hs_db, bot.user_id, room, ids)
        answered = replies(hs_db, bot.user_id, room)
    result: dict[str, Any] = {
        "holders": args.holders, "down_s": args.down,
        "ready_to_first_answer_s": round(first_answer, 2) if first_answer is not None else None,
        # Each holder: the activation's convocation and the weekly meeting's (the forum is activated).
        "dm_lost": sum(1 for n in dms.values() if n < 2),
        "dm_duplicated": sum(1 for n in dms.values() if n > 2),
        "ping_lost": sum(1 for n in mentions.values() if n == 0),
        "commands_unanswered": sum(1 for e in [first, *typed] if answered.get(e, 0) == 0),
        "commands_answered_twice": sum(1 for e in [first, *typed] if answered.get(e, 0) > 1),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "outage.json").write_text(json.dumps(result, indent=2) + "\n")
    bad = ("dm_lost", "dm_duplicated", "ping_lost", "commands_unanswered", "commands_answered_twice")
    return 0 if not any(result[k] for k in bad) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
