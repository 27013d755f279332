"""Crash soak for the SMS ladder: SIGKILL the bot at random moments while it texts 40 unacknowledged
holders through a real Kannel (fakesmsc as the operator), restart it, repeat.

Every holder must get the convocation's SMS, and no more doubles than kills: Kannel has no idempotency
key, so a kill that falls between the gateway's 202 and the bot's record of it can text one person twice,
and nothing else may. The bot's database must pass SQLite's integrity_check. Not part of `make test` (it
takes a minute or two); run it by hand:

    .venv/bin/python tests/soak/sms_crash.py [--holders 40] [--kills 10]

Prints the figures and writes bench/results/sms_crash.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "soak"))

from crash_convocation import forum_with_holders, request, to_toml  # noqa: E402
from kannel import NUMBER, Kannel  # noqa: E402
from pgserver import free_port  # noqa: E402

from dev.devserver import one_forum, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SECRET = "soak-secret"


def start_bot(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "WARNING", "run", "--config", str(config)],
                                cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def queued(db: Path) -> int | None:
    """SMS written and not yet taken by the gateway (queued, or claimed for a sendsms a kill may have cut short,
    sent again at the next start); None before the table is there."""
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            written = int(conn.execute("SELECT count(*) FROM sms WHERE kind = 'convocation'").fetchone()[0])
            waiting = int(conn.execute("SELECT count(*) FROM sms WHERE state IN ('queued', 'sending')").fetchone()[0])
        return waiting if written else None
    except sqlite3.Error:
        return None


def run(holders_count: int, kills: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    with scratch_homeserver() as (tmp, hs):
        admin, bot, holders, forum_room = forum_with_holders(hs, holders_count)
        port = free_port()
        (tmp / "kannel").mkdir()
        kannel = Kannel(tmp / "kannel", f"http://127.0.0.1:{port}", SECRET)
        kannel.start()
        try:
            numbers = {h.user_id: f"+46703{i:06d}" for i, h in enumerate(holders)}
            contacts = tmp / "contacts.toml"
            contacts.write_text("".join(f'[[contact]]\nuser = "{u}"\nnumber = "{n}"\n' for u, n in numbers.items()))
            db = tmp / "bot.db"
            data = one_forum(hs, admin, bot, holders, db, activated=[f"f{i}" for i in range(len(holders))])
            data["sms"] = {"gateway": kannel.gateway, "user": kannel.user, "sender": NUMBER,
                           "listen": f"127.0.0.1:{port}", "contacts": str(contacts), "sms_after": "3s"}
            config = tmp / "config.toml"
            config.write_text(to_toml(data))
            env = {"SAMVERKAN_PASSWORD": bot.password, "SAMVERKAN_SMS_PASSWORD": kannel.password,
                   "SAMVERKAN_SMS_SECRET": SECRET, "SAMVERKAN_STORE_KEY": uuid.uuid4().hex}
            log = tmp / "bot.log"
            process = start_bot(config, env, log)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                joined = request(hs, "GET", f"/_matrix/client/v3/rooms/{forum_room}/joined_members",
                                 holders[0].access_token)
                if bot.user_id in joined.get("joined", {}):
                    break
                time.sleep(0.2)
            time.sleep(1.0)
            request(hs, "PUT", f"/_matrix/client/v3/rooms/{forum_room}/send/m.room.message/{uuid.uuid4().hex}",
                    holders[0].access_token, {"msgtype": "m.text", "body": "!aktivera forum storm"})
            started = time.monotonic()
            while queued(db) is None and time.monotonic() - started < 60:  # the SMS step has run
                time.sleep(0.02)
            killed = 0
            for _ in range(kills):  # while the SMS go out, and after
                time.sleep(rng.uniform(0.0, 0.3))
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
                process = start_bot(config, env, log)
                time.sleep(rng.uniform(0.5, 2.0))
            while time.monotonic() - started < 300 and queued(db) != 0:
                time.sleep(0.5)
            time.sleep(3.0)
            process.send_signal(signal.SIGTERM)
            process.wait(30)
            elapsed = time.monotonic() - started
            with sqlite3.connect(db) as conn:
                integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            per_number = Counter(t.to for t in kannel.received() if t.text.startswith("AKTIVERAT"))
        finally:
            kannel.stop()
    counts = [per_number.get(n, 0) for n in numbers.values()]
    return {"holders": holders_count, "kills": killed, "seconds": round(elapsed, 1), "integrity_check": integrity,
            "texted": sum(1 for c in counts if c), "lost": sum(1 for c in counts if c == 0),
            "doubles": sum(c - 1 for c in counts if c > 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=40)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = run(args.holders, args.kills, args.seed)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sms_crash.json").write_text(json.dumps(result, indent=2) + "\n")
    ok = result["integrity_check"] == "ok" and result["lost"] == 0 and result["doubles"] <= result["kills"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
