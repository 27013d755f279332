"""The homeserver does not answer when the bot starts: one clear log line, no crash, `health` says why,
and the bot starts by itself once the homeserver answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import tomli_w
from support import World, base_config, command, wait_for

from dev.devserver import free_port


async def forward(port: int, target_port: int) -> asyncio.Server:
    """A TCP forwarder on `port` to the real homeserver: the homeserver 'coming back'."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def test_a_homeserver_that_does_not_answer_is_waited_for_not_crashed_on(world: World) -> None:
    port = free_port()
    data = base_config(world)
    data["matrix"]["homeserver"] = f"http://127.0.0.1:{port}"  # nothing listens here yet
    data["matrix"]["open_direct_rooms"] = False
    data["database"]["url"] = f"sqlite+aiosqlite:///{world.tmp / 'data' / 'bot.db'}"
    config = world.tmp / "config.toml"
    config.write_text(tomli_w.dumps(data), encoding="utf-8")
    log = world.tmp / "bot.log"
    env = {**os.environ, "SAMVERKAN_PASSWORD": world.bot.password}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot", "--log-format", "json", "run",  # noqa: ASYNC220
                                    "--config", str(config)], stdout=out, stderr=out, env=env)
    server: asyncio.Server | None = None
    try:
        def lines() -> list[dict[str, str]]:
            return [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x.startswith("{")]

        async def said_why() -> bool:
            return any("does not answer" in line["message"] for line in lines())

        await wait_for(said_why, 30)
        await asyncio.sleep(8)  # longer than the crash used to take
        assert process.poll() is None, "still running, waiting for the homeserver"
        errors = [line for line in lines() if line["level"] in ("ERROR", "CRITICAL")]
        assert len(errors) == 1 and "traceback" not in errors[0], errors
        health = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "health", "--config",
                                         str(config)], capture_output=True, text=True, timeout=60, env=env)
        assert health.returncode == 1 and "not ready: homeserver" in health.stdout, health.stdout

        server = await forward(port, urlparse(world.hs.url).port or 0)

        async def started() -> bool:
            return any("started:" in line["message"] for line in lines())

        await wait_for(started, 60)
        assert "Regionalt samordnande forum" in await command(world, "tib", "samordnande", "!status")
        process.terminate()
        assert await asyncio.to_thread(process.wait, 30) == 0
        assert "Unclosed client session" not in log.read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if server is not None:
            server.close()
