"""The baseline for the benchmarks: a minimal matrix-nio bot that answers every '!' message.

It answers with one notice in reply ("ok") and does nothing else: no database, no encryption.
Commands sent before ECHO_SINCE_MS (milliseconds since the epoch; default: when it starts) are
left alone, as the bot leaves alone what it has handled.
Run as its own process so its CPU and memory can be read from /proc like the bot's:

    ECHO_HOMESERVER=… ECHO_USER=… ECHO_DEVICE=… ECHO_TOKEN=… python bench/echo_bot.py
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from nio import AsyncClient, RoomMessageText


async def main() -> None:
    client = AsyncClient(os.environ["ECHO_HOMESERVER"], os.environ["ECHO_USER"], device_id=os.environ["ECHO_DEVICE"])
    client.restore_login(os.environ["ECHO_USER"], os.environ["ECHO_DEVICE"], os.environ["ECHO_TOKEN"])
    since_ms = int(os.environ.get("ECHO_SINCE_MS") or time.time() * 1000)

    async def on_message(room: Any, event: RoomMessageText) -> None:
        if event.sender == client.user_id or not event.body.startswith("!") \
                or event.server_timestamp < since_ms:
            return
        await client.room_send(room.room_id, "m.room.message", {
            "msgtype": "m.notice", "body": "ok", "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}})

    client.add_event_callback(on_message, RoomMessageText)  # type: ignore[arg-type]
    await client.sync_forever(timeout=30000, full_state=False)


if __name__ == "__main__":
    asyncio.run(main())
