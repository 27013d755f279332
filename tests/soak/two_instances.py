"""Two bot processes started at the same moment on one configuration and database, many times over:
exactly one may run the bot, so every activation pings each holder once. On SQLite and, where the
server is installed, on PostgreSQL. Not part of `make test` (which runs one round of each);
run it by hand:

    .venv/bin/python tests/soak/two_instances.py [--runs 20]

Prints the figures and writes bench/results/two_instances.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

sys.path.insert(0, str(ROOT / "tests" / "soak"))

from crash_convocation import forum_with_holders  # noqa: E402
from pgserver import Postgres  # noqa: E402

from dev.devserver import Homeserver, RegisteredUser, one_forum, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"


async def latest(hs: Homeserver, token: str, room: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
            f"{hs.url}/_matrix/client/v3/rooms/{room}/messages", params={"dir": "b", "limit": "100"},
            headers={"Authorization": f"Bearer {token}"}) as answer:
        body = await answer.json()
    return list(body.get("chunk", []))


async def one_run(hs: Homeserver, folder: Path, url: str, admin: RegisteredUser, bot: RegisteredUser,
                  holders: list[RegisteredUser], room: str, run: str) -> dict[str, Any]:
    data = one_forum(hs, admin, bot, holders, folder / "unused.db", activated=[f"f{i}" for i in range(len(holders))])
    data["database"]["url"] = url
    data["matrix"]["store_path"] = str(folder / "crypto")
    config = folder / f"config-{run}.toml"
    config.write_text(tomli_w.dumps(data), encoding="utf-8")
    env = {**os.environ, "SAMVERKAN_PASSWORD": bot.password}
    logs = [folder / f"run{run}-{i}.log" for i in (1, 2)]
    processes = []
    for log in logs:
        with log.open("ab") as out:
            processes.append(subprocess.Popen([sys.executable, "-m", "bot", "--log-format", "json", "run",  # noqa: ASYNC220
                                               "--config", str(config)], stdout=out, stderr=out, env=env))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            texts = [log.read_text(encoding="utf-8") if log.exists() else "" for log in logs]
            if sum("started:" in t for t in texts) == 1 and sum("another instance" in t for t in texts) == 1:
                break
            await asyncio.sleep(0.2)
        running = sum("started:" in (log.read_text(encoding="utf-8")) for log in logs)
        if running == 0:
            raise RuntimeError(f"no instance started: {logs[0].read_text(encoding='utf-8')[-2000:]}")
        convener = holders[0]
        event = f"storm{run}"
        async with aiohttp.ClientSession() as http, http.put(
                f"{hs.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t{run}{time.time_ns()}",
                json={"msgtype": "m.text", "body": f"!aktivera forum {event}"},
                headers={"Authorization": f"Bearer {convener.access_token}"}) as answer:
            assert answer.status == 200, await answer.text()
        await asyncio.sleep(6)
        chunk = await latest(hs, convener.access_token, room)
        pings = [e for e in chunk if e.get("sender") == bot.user_id and e["content"].get("msgtype") == "m.text"
                 and event in e["content"].get("body", "")]
        async with aiohttp.ClientSession() as http, http.put(
                f"{hs.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/d{run}{time.time_ns()}",
                json={"msgtype": "m.text", "body": "!avaktivera forum"},
                headers={"Authorization": f"Bearer {convener.access_token}"}) as answer:
            assert answer.status == 200
        await asyncio.sleep(2)
        return {"run": run, "running": running, "pings": len(pings)}
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, Any] = {"runs": args.runs, "backends": {}}
    with scratch_homeserver() as (folder, hs):
        admin, bot, holders, room = forum_with_holders(hs, 4)
        backends: dict[str, Any] = {"sqlite": lambda: f"sqlite+aiosqlite:///{folder / 'bot' / 'bot.db'}"}
        bindir, why = Postgres.find()
        postgres = Postgres(bindir) if bindir else None
        if postgres is not None:
            postgres.start()
            database = postgres.new_database()
            backends["postgresql"] = lambda: database
        else:
            print(f"PostgreSQL: skipped ({why})")
        try:
            for name, url in backends.items():
                rounds = [await one_run(hs, folder, url(), admin, bot, holders, room, f"{name}{run}")
                          for run in range(args.runs)]
                doubled = sum(r["pings"] > 1 for r in rounds)
                lost = sum(r["pings"] == 0 for r in rounds)
                both = sum(r["running"] > 1 for r in rounds)
                results["backends"][name] = {"doubled_pings": doubled, "lost_pings": lost,
                                             "both_running": both, "rounds": rounds}
                print(f"{name}: {args.runs} runs, both instances running {both}, doubled pings {doubled}, "
                      f"lost pings {lost}")
        finally:
            if postgres is not None:
                postgres.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "two_instances.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if all(b["doubled_pings"] == b["both_running"] == b["lost_pings"] == 0
                    for b in results["backends"].values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
