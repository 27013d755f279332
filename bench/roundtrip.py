"""Command round trip, CPU, memory and start-up: the bot next to a minimal echo bot, in one run.

One person sends commands one after the other and waits for each answer through their own sync,
first to one bot, then to the other, alternating the order each round. Both bots run as their own
processes, so CPU seconds (utime + stime) and resident memory come from /proc the same way. The
bot runs as deployed (its default configuration, encryption on, plain rooms) on a database with a
year of history (bench/history.py); the echo bot (bench/echo_bot.py) answers every command "ok".

A second baseline, the floor bot (bench/floor_bot.py), is the echo bot on the bot's required stack doing
the least the bot must: encryption enabled, and each command claimed and its answer recorded in
SQLite through SQLModel and aiosqlite before it is sent, then marked sent. Its figures show how much of
the distance to the echo bot the stack itself sets.

Per bot and round: seconds from process start to the first answer (a `!status` sent every 100 ms
from the moment the process starts), RSS idle (settled, before the commands) and after, CPU per
command, and each command's round trip.

    .venv/bin/python bench/roundtrip.py [--rounds 2] [--commands 200] [--organisations 40] [--profile FILE]

`--profile` runs the bot's measured starts under cProfile and writes the last one's statistics.

Writes bench/results/roundtrip.json.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w
from nio import AsyncClient, RoomCreateResponse, RoomMessageNotice, RoomMessageText

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import fill_year  # noqa: E402
from bot.state.db import Database  # noqa: E402
from dev.devserver import Homeserver, RegisteredUser, register_many, scratch_homeserver  # noqa: E402

RESULTS = ROOT / "bench" / "results"
COMMANDS = ("!status", "!vem tib", "!kallelse", "!hjälp", "!rapport läget är lugnt; behov: inga", "!lägesbild")
REPLY_TIMEOUT = 30.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Person:
    """The one who types: sends a command and waits for the answer in reply to it. Answers are seen
    through this person's own sync, or through an `observer`'s (many senders, one sync: the load
    benchmark must not load the homeserver with a sync per sender)."""

    def __init__(self, hs: Homeserver, user: RegisteredUser, room_id: str, observer: Person | None = None) -> None:
        self.client = AsyncClient(hs.url, user.user_id, device_id=user.device_id)
        self.client.restore_login(user.user_id, user.device_id, user.access_token)
        self.room_id = room_id
        self.observer = observer or self
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.seen: dict[str, float] = {}  # answers that came before their sender said what it waits for
        self.answered_at = 0.0
        if observer is None:
            self.client.add_event_callback(self._on_event, (RoomMessageText, RoomMessageNotice))

    async def _on_event(self, room: Any, event: Any) -> None:
        target = event.source.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        if target is None or event.sender == self.client.user_id:
            return
        now = self.answered_at = time.monotonic()
        future = self.waiting.pop(target, None)
        if future is None:
            self.seen[target] = now
        elif not future.done():
            future.set_result(now)

    def expect(self, event_id: str, future: asyncio.Future[float]) -> None:
        if event_id in self.seen:
            future.set_result(self.seen.pop(event_id))
        else:
            self.waiting[event_id] = future

    async def start(self) -> asyncio.Task[Any]:
        first = await self.client.sync(timeout=0)
        return asyncio.create_task(self.client.sync_forever(timeout=30000, since=getattr(first, "next_batch", None)))

    async def send(self, body: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        answer = await self.client.room_send(self.room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        self.observer.expect(answer.event_id, future)
        return future

    async def first_answer(self, started: float, timeout: float = 60.0) -> float:
        """Seconds from `started` until the first answer to a `!status` sent every 100 ms."""
        futures: list[asyncio.Future[float]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            futures.append(await self.send("!status"))
            done = [f.result() for f in futures if f.done()]
            if done:
                return min(done) - started
            await asyncio.sleep(0.1)
        raise TimeoutError("no answer")

    async def settle(self, quiet: float = 3.0) -> None:
        """Wait until no answer has come for `quiet` seconds (the answers to the start-up probes)."""
        self.answered_at = time.monotonic()
        while (left := self.answered_at + quiet - time.monotonic()) > 0:  # noqa: ASYNC110 (a deadline that moves)
            await asyncio.sleep(left)
        self.waiting.clear()
        self.seen.clear()

    async def round_trip(self, body: str) -> float:
        started = time.monotonic()
        future = await self.send(body)
        return await asyncio.wait_for(future, REPLY_TIMEOUT) - started


class Bot:
    """One of the two bots as a process: how it starts and how it stops."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, room_id: str) -> None:
        self.name, self.argv, self.env, self.log, self.room_id = name, argv, env, log, room_id
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        now_ms = str(int(time.time() * 1000))
        since = {"ECHO_SINCE_MS": now_ms, "FLOOR_SINCE_MS": now_ms}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, env={**os.environ, **self.env, **since}, stdout=log,
                                            stderr=log, cwd=ROOT)
        return time.monotonic()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def run_bot(bot: Bot, person: Person, commands: int) -> dict[str, Any]:
    person.room_id = bot.room_id
    started = bot.start()
    try:
        start_s = await person.first_answer(started)
        await person.settle()
        rss_idle, cpu_before = rss_mib(bot.pid), cpu_seconds(bot.pid)
        times: dict[str, list[float]] = {body: [] for body in COMMANDS}
        for n in range(commands):
            body = COMMANDS[n % len(COMMANDS)]
            times[body].append(await person.round_trip(body))
        cpu = cpu_seconds(bot.pid) - cpu_before
        rss_after = rss_mib(bot.pid)
    finally:
        bot.stop()
    return {"start_to_first_answer_s": start_s, "rss_idle_mib": rss_idle, "rss_after_mib": rss_after,
            "cpu_s": cpu, "cpu_ms_per_command": cpu / commands * 1000, "times": times}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    every = [t for run in runs for ts in run["times"].values() for t in ts]
    per_command = {body: round(statistics.median([t for run in runs for t in run["times"][body]]) * 1000, 1)
                   for body in COMMANDS}
    return {
        "p50_ms": round(statistics.median(every) * 1000, 1),
        "p90_ms": round(percentile(every, 90) * 1000, 1),
        "p99_ms": round(percentile(every, 99) * 1000, 1),
        "p50_ms_per_command": per_command,
        "cpu_ms_per_command": [round(run["cpu_ms_per_command"], 1) for run in runs],
        "rss_idle_mib": [round(run["rss_idle_mib"], 1) for run in runs],
        "rss_after_mib": [round(run["rss_after_mib"], 1) for run in runs],
        "start_to_first_answer_s": [round(run["start_to_first_answer_s"], 2) for run in runs],
    }


def ratio(bot: list[float] | float, echo: list[float] | float) -> float:
    def median(v: list[float] | float) -> float:
        return statistics.median(v) if isinstance(v, list) else v
    return round(median(bot) / median(echo), 2)


def ratios(bot: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    return {
        "p50": ratio(bot["p50_ms"], baseline["p50_ms"]), "p99": ratio(bot["p99_ms"], baseline["p99_ms"]),
        "cpu_per_command": ratio(bot["cpu_ms_per_command"], baseline["cpu_ms_per_command"]),
        "rss_idle": ratio(bot["rss_idle_mib"], baseline["rss_idle_mib"]),
        "start_to_first_answer": ratio(bot["start_to_first_answer_s"], baseline["start_to_first_answer_s"]),
    }


async def public_room(hs: Homeserver, admin: RegisteredUser, alias: str) -> str:
    """A public room made by the administrator; returns its id. Each bot is asked in a room of its own,
    so the bot never sees (nor, after a restart, catches up on) what the echo bot was asked."""
    setup = AsyncClient(hs.url, admin.user_id, device_id=admin.device_id)
    setup.restore_login(admin.user_id, admin.device_id, admin.access_token)
    created = await setup.room_create(alias=alias, initial_state=[
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}])
    await setup.close()
    assert isinstance(created, RoomCreateResponse), created
    return str(created.room_id)


async def join(hs: Homeserver, user: RegisteredUser, room_id: str) -> None:
    joining = AsyncClient(hs.url, user.user_id, device_id=user.device_id)
    joining.restore_login(user.user_id, user.device_id, user.access_token)
    await joining.join(room_id)
    await joining.close()


async def both_bots(hs: Homeserver, bot: RegisteredUser, echo: RegisteredUser, config: Path, forum: str,
                    echo_room: str, logs: Path) -> dict[str, Bot]:
    """The bot on `config` (its forum room `forum`) and the echo bot, joined to `echo_room`; neither started.
    The bot's modules are compiled first, as an installed package's are (pip compiles them), so that no start
    pays for compiling them (PYTHONDONTWRITEBYTECODE would make every start of an editable install do it)."""
    compileall.compile_dir(ROOT / "bot", quiet=1)
    await join(hs, echo, echo_room)
    return {
        "bot": Bot("bot", [sys.executable, "-m", "bot", "run", "--config", str(config)],
                   {"SAMVERKAN_PASSWORD": bot.password, "SAMVERKAN_STORE_KEY": "bench"}, logs / "bot.log", forum),
        "echo_bot": Bot("echo_bot", [sys.executable, "bench/echo_bot.py"],
                        {"ECHO_HOMESERVER": hs.url, "ECHO_USER": echo.user_id, "ECHO_DEVICE": echo.device_id,
                         "ECHO_TOKEN": echo.access_token}, logs / "echo.log", echo_room),
    }


async def floor_bot(hs: Homeserver, floor: RegisteredUser, room_id: str, data: Path, logs: Path) -> Bot:
    """The floor bot (bench/floor_bot.py), joined to `room_id`; not started."""
    await join(hs, floor, room_id)
    return Bot("floor_bot", [sys.executable, "bench/floor_bot.py"],
               {"FLOOR_HOMESERVER": hs.url, "FLOOR_USER": floor.user_id, "FLOOR_DEVICE": floor.device_id,
                "FLOOR_TOKEN": floor.access_token, "FLOOR_DATA": str(data)}, logs / "floor.log", room_id)


def configuration(hs: Homeserver, admin: RegisteredUser, bot: RegisteredUser, holders: list[RegisteredUser],
                  data: Path) -> dict[str, Any]:
    """Forty organisations with a duty officer each, one forum with a weekly meeting; the first
    officer ('tib') convenes and chairs."""
    ids = ["tib"] + [f"org{i}-tib" for i in range(1, len(holders))]
    return {
        "bot": {"admins": [admin.user_id], "commands_per_minute": 1_000_000},  # one sender sends them all
        "matrix": {"homeserver": hs.url, "user_id": bot.user_id},
        "database": {"url": f"sqlite+aiosqlite:///{data / 'samverkan.db'}"},
        "organisation": [{"id": f"org{i}", "name": f"Organisation {i}"} for i in range(len(holders))],
        "function": [{"id": fid, "organisation": f"org{i}", "name": f"Tjänsteman i beredskap {i}",
                      "holders": [h.user_id], "may_convene": i == 0}
                     for i, (fid, h) in enumerate(zip(ids, holders, strict=True))],
        "forum": [{"id": "forum", "name": "Forum", "level": "samordnande", "room": f"#forum:{hs.server_name}",
                   "chair": "tib", "ordinary": ids,
                   "meeting": [{"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0"}]}],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--organisations", type=int, default=40)
    parser.add_argument("--profile", type=Path, help="write cProfile statistics of the bot here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with scratch_homeserver() as (tmp, hs):
        admin = hs.register("admin", admin=True)
        bot_user, echo_user, floor_user = hs.register("samverkan"), hs.register("echo"), hs.register("floor")
        holders = register_many(hs, "tib", args.organisations)
        room_id, echo_room = await public_room(hs, admin, "forum"), await public_room(hs, admin, "echo")
        floor_room = await public_room(hs, admin, "floor")
        data = tmp / "data"
        data.mkdir()
        config = tmp / "config.toml"
        config.write_text(tomli_w.dumps(configuration(hs, admin, bot_user, holders, data)), encoding="utf-8")
        db = Database(f"sqlite+aiosqlite:///{data / 'samverkan.db'}")
        await db.migrate()
        history = await fill_year(db, "forum", [("tib" if i == 0 else f"org{i}-tib", f"org{i}", h.user_id)
                                                for i, h in enumerate(holders)], datetime.now(UTC))
        await db.close()

        person = Person(hs, holders[0], room_id)
        await person.client.join(room_id)
        await person.client.join(echo_room)
        await person.client.join(floor_room)
        sync = await person.start()
        bots = await both_bots(hs, bot_user, echo_user, config, room_id, echo_room, tmp)
        bots["floor_bot"] = await floor_bot(hs, floor_user, floor_room, tmp / "floor", tmp)
        # The first start logs in, joins and sets up keys; the figures are of later starts.
        for name in ("bot", "floor_bot"):
            person.room_id = bots[name].room_id
            bots[name].start()
            await person.first_answer(time.monotonic(), timeout=120)
            await person.settle()
            bots[name].stop()
        if args.profile:
            bots["bot"].argv[1:2] = ["-m", "cProfile", "-o", str(args.profile.resolve()), "-m"]

        names = ["bot", "echo_bot", "floor_bot"]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for n in range(args.rounds):
            for name in names[n % 3:] + names[:n % 3]:  # each goes first in turn
                figures = await run_bot(bots[name], person, args.commands)
                runs[name].append(figures)
                every = [t for times in figures["times"].values() for t in times]
                print(f"round {n + 1} {name}: p50 {statistics.median(every) * 1000:.1f} ms, "
                      f"CPU {figures['cpu_ms_per_command']:.1f} ms a command, RSS idle {figures['rss_idle_mib']:.1f} "
                      f"MiB, first answer after {figures['start_to_first_answer_s']:.2f} s", flush=True)
        sync.cancel()
        await person.client.close()
    bot, echo, floor = summary(runs["bot"]), summary(runs["echo_bot"]), summary(runs["floor_bot"])
    result = {
        "when": datetime.now().isoformat(timespec="seconds"), "rounds": args.rounds, "commands": args.commands,
        "organisations": args.organisations, "history_rows": history, "bot": bot, "echo_bot": echo,
        "floor_bot": floor, "ratios": ratios(bot, echo), "ratios_floor_to_echo": ratios(floor, echo),
        "ratios_bot_to_floor": ratios(bot, floor),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "roundtrip.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
