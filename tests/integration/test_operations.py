"""Running the bot as a service: reload, JSON logs, SIGHUP and SIGTERM, config and data in their own folders.

The process tests start `python -m bot run` as the image does: configuration in a `config/`
folder, state in a `data/` folder, the password in the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w
from pgserver import free_port
from sqlmodel import select
from support import World, base_config, command, room_events, settle, wait_for

from bot.app import App
from bot.config import parse_settings
from bot.matrix.content import render
from bot.messages import Message
from bot.state import repo
from bot.state.db import Database
from bot.state.models import AuditEntry, OutboxMessage

BACKLOG = 200  # more than the bot delivers in the second it keeps sending after SIGTERM


def write_config(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def with_new_function(data: dict[str, Any]) -> dict[str, Any]:
    data["function"].append({"id": "nacka-krisledning", "organisation": "nacka", "name": "Krisledning, Nacka",
                             "holders": [data["bot"]["admins"][0]]})
    return data


async def test_reload_applies_a_valid_file_and_an_invalid_one_changes_nothing(world: World) -> None:
    path = world.tmp / "config" / "config.toml"
    write_config(path, base_config(world))
    app = App(parse_settings(base_config(world)), env={"SAMVERKAN_PASSWORD": world.bot.password}, config_path=path)
    await app.start()
    await app.wait_ready()
    world.apps.append(app)
    assert "nacka-krisledning" in await command(world, "tib", "samordnande", "!vem nacka-krisledning")  # unknown

    write_config(path, with_new_function(base_config(world)))
    refused = await command(world, "tib", "samordnande", "!ladda-om")
    assert "bara för administratörer" in refused
    reply = await command(world, "admin", "samordnande", "!ladda-om")
    assert "Konfigurationen är omladdad" in reply and "function added: nacka-krisledning" in reply
    assert "Krisledning, Nacka" in await command(world, "tib", "samordnande", "!vem nacka-krisledning")

    broken = with_new_function(base_config(world))
    broken["forum"][0]["chair"] = "lst-tbi"
    broken["database"]["url"] = "sqlite+aiosqlite:///elsewhere.db"
    write_config(path, broken)
    reply = await command(world, "admin", "samordnande", "!ladda-om")
    assert "laddades inte om" in reply and "forum[0].chair: unknown function 'lst-tbi'" in reply
    path.write_text("[bot\nlanguage = ", encoding="utf-8")
    reply = await command(world, "admin", "samordnande", "!ladda-om")
    assert "laddades inte om" in reply and "not valid TOML" in reply
    # The running configuration stayed: the new function is still known, the chair unchanged.
    assert "Krisledning, Nacka" in await command(world, "tib", "samordnande", "!vem nacka-krisledning")
    assert app.settings.forums[0].chair == "lst-tib"
    async with app.db.session() as session:
        audited = (await session.exec(select(AuditEntry).where(AuditEntry.action == "reload"))).all()
    assert [a.allowed for a in audited] == [True, False, False]


class BotProcess:
    """`python -m bot --log-format json run` with config/ and data/ folders, as in the image."""

    def __init__(self, world: World, data: dict[str, Any]) -> None:
        self.world = world
        self.config = world.tmp / "config" / "config.toml"
        data["database"]["url"] = f"sqlite+aiosqlite:///{world.tmp / 'data' / 'samverkan.db'}"
        write_config(self.config, data)
        self.log = world.tmp / "bot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "SAMVERKAN_PASSWORD": self.world.bot.password}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--log-format", "json", "run", "--config", str(self.config)],
                stdout=log, stderr=log, env=env)

    def lines(self) -> list[dict[str, Any]]:
        """Every log line, each parsed as JSON (a line that is not JSON fails the test)."""
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    async def logged(self, needle: str, timeout: float = 30.0) -> dict[str, Any]:
        async def find() -> dict[str, Any] | None:
            return next((line for line in self.lines() if needle in line["message"]), None)

        found: dict[str, Any] = await wait_for(find, timeout)
        return found

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def exit_code(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def test_sighup_reloads_and_a_broken_file_is_logged_not_applied(world: World) -> None:
    bot = BotProcess(world, base_config(world))
    bot.start()
    try:
        await bot.logged("started:")
        write_config(bot.config, with_new_function(read_config(bot.config)))
        bot.signal(signal.SIGHUP)
        reloaded = await bot.logged("configuration reloaded")
        assert "function added: nacka-krisledning" in reloaded["message"]
        bot.config.write_text("[[function]]\nid = 'x'\n", encoding="utf-8")
        bot.signal(signal.SIGHUP)
        refused = await bot.logged("was not reloaded")
        assert refused["level"] == "ERROR" and "function[0]" in refused["message"]
        assert "Krisledning, Nacka" in await command(world, "tib", "samordnande", "!vem nacka-krisledning")
        bot.signal(signal.SIGTERM)
        assert await bot.exit_code() == 0
    finally:
        bot.kill()
    assert bot.lines()[-1]["message"] == "stopped"


def read_config(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


async def test_sigterm_finishes_sends_in_flight_and_a_restart_delivers_the_rest_once(world: World) -> None:
    data = base_config(world)
    data["bot"]["stop_timeout"] = 1.0
    bot = BotProcess(world, data)
    settings = parse_settings(read_config(bot.config))
    room = world.rooms["logg"]
    db = Database(settings.database.url)
    await db.migrate()
    async with db.session() as session:  # a backlog, as after a large convocation
        await repo.enqueue(session, "backlog", [Message(room, f"kö {i}", f"kö {i}") for i in range(BACKLOG)],
                           datetime.now(UTC))
    await db.close()

    bot.start()
    try:
        async def first_arrived() -> bool:
            return any(e["content"].get("body") == "kö 0" for e in await room_events(world.clients["tib"], room, 20))

        await wait_for(first_arrived, 30)
        bot.signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert await bot.exit_code() == 0
        assert time.monotonic() - signalled < 10  # a container engine's default grace period
    finally:
        bot.kill()
    assert bot.lines()[-1]["message"] == "stopped"

    async def bodies() -> list[str]:
        events = await room_events(world.clients["tib"], room, 2 * BACKLOG)
        return [e["content"]["body"] for e in events if e["content"].get("body", "").startswith("kö ")]

    db = Database(settings.database.url)
    async with db.session() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.target == room))).all()
    await db.close()
    sent = {render(json.loads(r.content))["body"] for r in rows if r.sent_at}
    assert 0 < len(sent) < BACKLOG  # it stopped with messages still queued
    assert sorted(await bodies()) == sorted(sent)  # what the bot recorded as sent arrived, and only that

    await world.start_bot(settings)
    delivered = await wait_for(lambda: _all_of(bodies, BACKLOG), 60)
    assert sorted(delivered) == sorted(f"kö {i}" for i in range(BACKLOG))  # each exactly once


async def _all_of(bodies: Any, count: int) -> list[str] | None:
    found: list[str] = await bodies()
    return found if len(found) >= count else None


async def scrape(url: str) -> dict[str, float]:
    """The samples of a Prometheus text page, by name with labels."""
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        text = await answer.text()
    samples = {}
    for line in text.splitlines():
        if line.startswith("samverkan_"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def test_metrics_count_convocations_acknowledgements_and_show_backlog_and_sync_lag(world: World) -> None:
    port = free_port()

    def with_metrics(data: dict[str, Any]) -> None:
        data["metrics"] = {"listen": f"127.0.0.1:{port}"}

    app = await world.start_bot(world.settings(with_metrics))
    url = f"http://127.0.0.1:{port}/metrics"
    before = await scrape(url)
    await command(world, "tib", "samordnande", "!aktivera samordnande storm")
    await command(world, "tib", "samordnande", "!kvittera")

    async def counted() -> dict[str, float] | None:
        now = await scrape(url)
        return now if now.get('samverkan_acknowledgements_total', 0) > before.get(
            'samverkan_acknowledgements_total', 0) else None

    after = await wait_for(counted)
    key = 'samverkan_convocations_total{kind="activation"}'
    assert after[key] - before.get(key, 0) == 1
    ok = 'samverkan_commands_total{outcome="ok"}'
    assert after[ok] - before.get(ok, 0) == 2, "the two commands, counted once each"
    assert after["samverkan_acknowledgements_total"] - before.get("samverkan_acknowledgements_total", 0) == 1
    assert after["samverkan_messages_sent_total"] > before.get("samverkan_messages_sent_total", 0)
    assert 0 <= after["samverkan_sync_lag_seconds"] < 35, "the sync long-polls 30 s at most"
    await settle(app)
    assert (await scrape(url))["samverkan_outbox_backlog"] == 0, "everything delivered: nothing waits"
    assert app.settings.metrics.listen == f"127.0.0.1:{port}"
