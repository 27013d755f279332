"""Two bot processes on one configuration and database (two containers by mistake), on SQLite and
PostgreSQL: exactly one runs the bot, the other says so and waits; when the first dies the second
takes over within 15 s; nobody is pinged twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
from support import World, base_config, room_events, send_text, wait_for, wait_for_reply

RUNS = "this instance runs the bot"
STANDBY = "another instance is running"


class Instance:
    """`python -m bot --log-format json run`, one of two on the same configuration."""

    def __init__(self, world: World, config: Path, name: str) -> None:
        self.world, self.config = world, config
        self.log = world.tmp / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "SAMVERKAN_PASSWORD": self.world.bot.password}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--log-format", "json", "run", "--config", str(self.config)],
                stdout=log, stderr=log, env=env)

    def messages(self) -> list[str]:
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return [json.loads(line)["message"] for line in text.splitlines() if line.startswith("{")]

    def said(self, needle: str) -> bool:
        return any(needle in m for m in self.messages())

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(30)


def configure(world: World, url: str) -> Path:
    data = base_config(world)
    data["database"]["url"] = url
    data["matrix"]["open_direct_rooms"] = False
    data["matrix"]["store_path"] = str(world.tmp / "crypto")
    path = world.tmp / "config.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


async def answers_to(world: World, event_id: str) -> list[dict[str, Any]]:
    room = world.rooms["samordnande"]
    return [e for e in await room_events(world.clients["tib"], room)
            if e["sender"] == world.bot.user_id
            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id]


async def test_two_processes_one_bot_and_a_takeover_when_it_dies(world: World,
                                                                 new_database: Callable[[], str]) -> None:
    config = configure(world, new_database())
    first, second = Instance(world, config, "first"), Instance(world, config, "second")
    first.start()
    second.start()  # at the same moment: both migrate a new database, one after the other
    try:
        async def decided() -> bool:
            return (first.said(RUNS) or second.said(RUNS)) and (first.said(STANDBY) or second.said(STANDBY))

        await wait_for(decided, 60)
        running, standby = (first, second) if first.said(RUNS) else (second, first)
        assert not standby.said(RUNS), "exactly one instance runs the bot"
        await wait_for(lambda: _started(running), 60)

        room = world.rooms["samordnande"]
        asked = await send_text(world.clients["tib"], room, "!aktivera samordnande storm")
        await wait_for_reply(world.clients["tib"], room, asked)
        await asyncio.sleep(3)  # a second instance, had it run, would have answered by now
        assert len(await answers_to(world, asked)) == 1, "one answer"
        pings = [e for e in await room_events(world.clients["tib"], room)
                 if e["sender"] == world.bot.user_id and e["content"].get("msgtype") == "m.text"]
        assert len(pings) == 1, "one ping for the activation"

        running.stop(signal.SIGKILL)
        died = time.monotonic()
        await wait_for(lambda: _said(standby, RUNS), 30)
        assert time.monotonic() - died < 15, "the standby takes over within 15 s"
        await wait_for(lambda: _started(standby), 60)
        asked = await send_text(world.clients["tib"], room, "!status samordnande")
        await wait_for_reply(world.clients["tib"], room, asked, timeout=30)
        await asyncio.sleep(2)
        assert len(await answers_to(world, asked)) == 1
        assert standby.stop() == 0
    finally:
        for instance in (first, second):
            if instance.process is not None and instance.process.poll() is None:
                instance.process.kill()
                instance.process.wait()


async def _said(instance: Instance, needle: str) -> bool:
    return instance.said(needle)


async def _started(instance: Instance) -> bool:
    return instance.said("started:")
