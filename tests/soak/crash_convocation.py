"""Crash soak: SIGKILL the bot at random moments while it convenes many holders, restart it, repeat.

Every holder must end with exactly one convocation direct message and one mention in the room
ping, and the bot's database must pass SQLite's integrity_check. Not part of `make test` (it
takes minutes); run it by hand:

    .venv/bin/python tests/soak/crash_convocation.py [--holders 200] [--kills 20]

Prints the figures and writes bench/results/crash_convocation.json.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dev.devserver import Homeserver, RegisteredUser, one_forum, register_many, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for a bot configuration: tables and arrays of tables of plain values."""
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"[{key}]")
            out += [f"{k} = {toml_value(v)}" for k, v in value.items()]
        else:
            for item in value:
                out.append(f"[[{key}]]")
                out += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        out.append("")
    return "\n".join(out)


def request(hs: Homeserver, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    return hs._request(method, path, body, token=token)


def forum_with_holders(hs: Homeserver, count: int) -> tuple[RegisteredUser, RegisteredUser, list[RegisteredUser], str]:
    """An admin, the bot, `count` holders and the forum room #forum, which the first holder (the convener) joined."""
    admin = hs.register(f"admin{uuid.uuid4().hex[:6]}", admin=True)
    bot = hs.register("samverkan")
    holders = register_many(hs, "h", count)
    room = request(hs, "POST", "/_matrix/client/v3/createRoom", admin.access_token,
                   {"room_alias_name": "forum", "preset": "public_chat",
                    "power_level_content_override": {"users": {bot.user_id: 50}}})["room_id"]
    request(hs, "POST", f"/_matrix/client/v3/join/{room}", holders[0].access_token, {})
    return admin, bot, holders, str(room)


def start_bot(config: Path, password: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SAMVERKAN_PASSWORD": password}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "WARNING", "run", "--config", str(config)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def outbox_pending(db: Path) -> int | None:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed = 0").fetchone()[0])
    except sqlite3.Error:
        return None


def count_deliveries(hs_db: Path, bot: str, forum_room: str,
                     holders: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(direct messages per holder, room-ping mentions per holder), read from the homeserver's database."""
    dms = dict.fromkeys(holders, 0)
    mentions = dict.fromkeys(holders, 0)
    with sqlite3.connect(hs_db, timeout=30) as conn:
        rows = conn.execute("SELECT e.room_id, j.json FROM events e JOIN event_json j ON e.event_id = j.event_id "
                            "WHERE e.sender = ? AND e.type = 'm.room.message'", (bot,)).fetchall()
        members: dict[str, set[str]] = {}
        for room_id, user in conn.execute("SELECT room_id, state_key FROM current_state_events "
                                          "WHERE type = 'm.room.member'"):
            members.setdefault(room_id, set()).add(user)
    for room_id, raw in rows:
        content = json.loads(raw).get("content", {})
        body = content.get("body", "")
        if room_id == forum_room:
            if "Kallelse" in body or body.startswith("…"):
                for user in content.get("m.mentions", {}).get("user_ids", []):
                    if user in mentions:
                        mentions[user] += 1
        elif "Du kallas som" in body and "PÅMINNELSE" not in body:  # a convocation, not its reminder
            for user in members.get(room_id, set()) & set(dms):
                dms[user] += 1
    return dms, mentions


def run(holders_count: int, kills: int, seed: int) -> dict[str, Any]:
    """Convene `holders_count` holders while killing the bot `kills` times; the counts per holder."""
    rng = random.Random(seed)
    with scratch_homeserver() as (tmp, hs):
        admin, bot, holders, forum_room = forum_with_holders(hs, holders_count)
        convener = holders[0]
        db = tmp / "bot.db"
        config = tmp / "config.toml"
        config.write_text(to_toml(one_forum(hs, admin, bot, holders, db,
                                            activated=[f"f{i}" for i in range(len(holders))])))
        log = tmp / "bot.log"
        process = start_bot(config, bot.password, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            joined = request(hs, "GET", f"/_matrix/client/v3/rooms/{forum_room}/joined_members",
                             convener.access_token)
            if bot.user_id in joined.get("joined", {}):
                break
            time.sleep(0.2)
        time.sleep(1.0)
        txn = uuid.uuid4().hex
        request(hs, "PUT", f"/_matrix/client/v3/rooms/{forum_room}/send/m.room.message/{txn}",
                convener.access_token, {"msgtype": "m.text", "body": "!aktivera forum storm"})
        started = time.monotonic()
        for _ in range(kills):
            time.sleep(rng.uniform(0.05, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            process = start_bot(config, bot.password, log)
        while time.monotonic() - started < 900:
            time.sleep(1.0)
            if outbox_pending(db) == 0:
                break
        time.sleep(2.0)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        elapsed = time.monotonic() - started
        with sqlite3.connect(db) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        ids = [h.user_id for h in holders]
        dms, mentions = count_deliveries(tmp / "synapse" / "homeserver.db", bot.user_id, forum_room, ids)
    return {
        "holders": holders_count, "kills": kills, "seconds": round(elapsed, 1), "integrity_check": integrity,
        "dm_lost": sum(1 for n in dms.values() if n == 0), "dm_duplicated": sum(1 for n in dms.values() if n > 1),
        "ping_lost": sum(1 for n in mentions.values() if n == 0),
        "ping_duplicated": sum(1 for n in mentions.values() if n > 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = run(args.holders, args.kills, args.seed)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "crash_convocation.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if exactly_once(result) else 1


def exactly_once(result: dict[str, Any]) -> bool:
    """Nothing lost, nothing twice, the database whole."""
    return result["integrity_check"] == "ok" and not any(
        result[k] for k in ("dm_lost", "dm_duplicated", "ping_lost", "ping_duplicated"))


if __name__ == "__main__":
    sys.exit(main())
