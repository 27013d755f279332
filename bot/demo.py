"""`make demo`: a local homeserver, demo users and rooms from config/dev.toml, the bot, and a
scripted conversation printed as a transcript. Later features add steps to SCENARIO.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomMessagesResponse, RoomSendResponse

from bot.app import App
from bot.config import parse_settings
from bot.devserver import Homeserver, RegisteredUser, free_port

ROOT = Path(__file__).resolve().parent.parent
DEV_CONFIG = ROOT / "config" / "dev.toml"
WORKDIR = ROOT / ".demo"

# (who, room alias localpart, what they type). The transcript shows the bot's answers.
SCENARIO: list[tuple[str, str, str]] = [
    ("anna", "samordnande", "!status"),
    ("sara", "samordnande", "!hjälp"),
    ("nils", "samordnande", "!stauts"),
    ("anna", "samordnande", "!aktivera samordnande snöoväder röd varning för snö, hela länet"),
    ("sara", "samordnande", "!status samordnande"),
    ("nils", "inriktande", "!aktivera inriktande snöoväder"),
    ("anna", "samordnande", "!avaktivera samordnande"),
]


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def people(data: dict[str, Any]) -> list[str]:
    ids = {h for f in data["function"] for h in f.get("holders", [])} | set(data["bot"]["admins"])
    return sorted(localpart(i) for i in ids)


def rooms(data: dict[str, Any]) -> list[str]:
    aliases = [f["room"] for f in data["forum"]] + [o["home_room"] for o in data["organisation"] if "home_room" in o]
    aliases.append(data["bot"]["log_room"])
    return [a[1:].split(":", 1)[0] for a in dict.fromkeys(aliases)]


async def reply_to(client: AsyncClient, room_id: str, event_id: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await client.room_messages(room_id, start="", limit=30)
        if isinstance(answer, RoomMessagesResponse):
            for event in answer.chunk:
                relates = event.source.get("content", {}).get("m.relates_to", {})
                if relates.get("m.in_reply_to", {}).get("event_id") == event_id:
                    return str(event.source["content"].get("body", ""))
        await asyncio.sleep(0.2)
    return "(no answer)"


async def run_demo(keep_running: bool) -> int:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    port = 8008
    try:
        hs = Homeserver(WORKDIR / "synapse", port=port)
        await hs.start_async()
    except RuntimeError:
        hs = Homeserver(WORKDIR / "synapse", port=free_port())
        await hs.start_async()
    data = tomllib.loads(DEV_CONFIG.read_text(encoding="utf-8"))
    data["matrix"]["homeserver"] = hs.url
    data["database"]["url"] = f"sqlite+aiosqlite:///{WORKDIR / 'samverkan.db'}"
    settings = parse_settings(data)
    try:
        password = secrets.token_urlsafe(9)
        users: dict[str, RegisteredUser] = {
            name: hs.register(name, password, admin=(name == "admin")) for name in people(data)
        }
        bot_user = hs.register(localpart(settings.matrix.user_id))
        clients: dict[str, AsyncClient] = {}
        for name, user in users.items():
            client = AsyncClient(hs.url, user.user_id, config=AsyncClientConfig(max_timeouts=2))
            client.restore_login(user.user_id, user.device_id, user.access_token)
            clients[name] = client
        everyone = [u.user_id for n, u in users.items() if n != "admin"] + [bot_user.user_id]
        room_ids: dict[str, str] = {}
        for alias in rooms(data):
            created = await clients["admin"].room_create(
                alias=alias, name=alias, invite=everyone,
                power_level_override={"users": {bot_user.user_id: 50}})  # the bot may set the topic
            room_ids[alias] = created.room_id
        for name, client in clients.items():
            if name != "admin":
                for room_id in room_ids.values():
                    await client.join(room_id)
        app = App(settings, env={"SAMVERKAN_PASSWORD": bot_user.password})
        await app.start()
        await app.wait_ready()

        print(f"\nHomeserver: {hs.url}  (log in with any Matrix client, e.g. Element, as a user below)")
        print(f"Users: {', '.join(f'@{n}:{hs.server_name}' for n in users)}; password for all: {password}")
        print(f"Rooms: {', '.join(f'#{a}:{hs.server_name}' for a in room_ids)}\n")
        print("--- transcript ---")
        for who, alias, text in SCENARIO:
            sent = await clients[who].room_send(room_ids[alias], "m.room.message", {"msgtype": "m.text", "body": text})
            assert isinstance(sent, RoomSendResponse), sent
            print(f"[{alias}] {who}: {text}")
            answer = await reply_to(clients[who], room_ids[alias], sent.event_id)
            print("\n".join(f"    bot: {line}" for line in answer.splitlines()))
        print("--- end of transcript ---")
        if keep_running:
            print("\nThe bot keeps running; press Ctrl-C to stop.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        await app.stop()
        for client in clients.values():
            await client.close()
    finally:
        hs.stop()
    return 0


def main() -> int:
    keep_running = sys.stdin.isatty() and "--once" not in sys.argv
    try:
        return asyncio.run(run_demo(keep_running))
    except KeyboardInterrupt:
        return 0
