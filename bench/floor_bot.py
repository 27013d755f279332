"""The second baseline: the echo bot on the bot's required stack, doing the least the bot must do.

The bot may not send a step before it is recorded, and must not answer a command twice after a
restart. So this bot, like the echo bot, answers every '!' message with one notice in reply ("ok"),
but as the bot does it: matrix-nio with encryption enabled (its olm account and key store loaded),
and SQLite through SQLModel and aiosqlite for the record. Each command is one transaction that
claims the event and writes the answer to an outbox, then the send, then one transaction that
marks the answer sent. Nothing else: no commands, no configuration, no timers.

Its figures are the floor that the required stack sets (nio's encryption, SQLAlchemy's ORM over
aiosqlite): what is left between it and the bot is the bot's own work.

    FLOOR_HOMESERVER=… FLOOR_USER=… FLOOR_DEVICE=… FLOOR_TOKEN=… FLOOR_DATA=<directory> python bench/floor_bot.py
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomMessageText
from sqlalchemy import event, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class Handled(SQLModel, table=True):
    event_id: str = Field(primary_key=True)
    handled_at: datetime


class Outbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    txn_id: str
    room_id: str
    content: str
    sent_at: datetime | None = None
    event_id: str | None = None


def _pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # as the bot sets them
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def main() -> None:
    data = Path(os.environ["FLOOR_DATA"])
    (data / "store").mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(f"sqlite+aiosqlite:///{data / 'floor.db'}", pool_reset_on_return=None)
    event.listen(engine.sync_engine, "connect", _pragmas)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)

    user, device = os.environ["FLOOR_USER"], os.environ["FLOOR_DEVICE"]
    client = AsyncClient(os.environ["FLOOR_HOMESERVER"], user, device_id=device, store_path=str(data / "store"),
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
    client.restore_login(user, device, os.environ["FLOOR_TOKEN"])
    if client.should_upload_keys:
        await client.keys_upload()
    since_ms = int(os.environ.get("FLOOR_SINCE_MS") or time.time() * 1000)

    async def on_message(room: Any, message: RoomMessageText) -> None:
        if message.sender == client.user_id or not message.body.startswith("!") \
                or message.server_timestamp < since_ms:
            return
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            claimed = await session.exec(insert(Handled).values(event_id=message.event_id,  # type: ignore[call-overload]
                                                                handled_at=datetime.now(UTC)).on_conflict_do_nothing())
            if not claimed.rowcount:
                return
            answer = Outbox(txn_id=message.event_id, room_id=room.room_id, content="ok")
            session.add(answer)
        sent = await client.room_send(room.room_id, "m.room.message", {
            "msgtype": "m.notice", "body": answer.content,
            "m.relates_to": {"m.in_reply_to": {"event_id": message.event_id}}}, tx_id=answer.txn_id)
        async with AsyncSession(engine) as session, session.begin():
            await session.exec(update(Outbox).where(Outbox.id == answer.id)  # type: ignore[call-overload, arg-type]
                               .values(sent_at=datetime.now(UTC), event_id=getattr(sent, "event_id", None)))

    client.add_event_callback(on_message, RoomMessageText)  # type: ignore[arg-type]
    await client.sync_forever(timeout=30000, full_state=False)


if __name__ == "__main__":
    asyncio.run(main())
