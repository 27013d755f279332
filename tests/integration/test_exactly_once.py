"""Exactly once, on the real homeserver: a message sent again after a crash between sending and
recording it (same outbox row, same transaction id) does not appear twice."""

from __future__ import annotations

from sqlmodel import col, select
from support import World, command, room_events, settle

from bot.state.models import OutboxMessage


async def test_a_resend_of_the_same_outbox_row_is_one_event(world: World) -> None:
    app = await world.start_bot()
    answer = await command(world, "tib", "samordnande", "!vem tib")
    await settle(app)
    async with app.db.session() as session:
        row = (await session.exec(select(OutboxMessage).where(col(OutboxMessage.sent_at).is_not(None))
                                  .order_by(col(OutboxMessage.id).desc()))).first()
        assert row is not None and row.event_id
        first_event = row.event_id
        row.sent_at, row.event_id = None, None  # as if the process died before recording the send
        session.add(row)
    app.outbox.notify()
    await settle(app)
    async with app.db.session() as session:
        again = await session.get(OutboxMessage, row.id)
    assert again is not None and again.sent_at is not None
    assert again.event_id == first_event, "the homeserver recognised the transaction id"
    room = world.rooms["samordnande"]
    same = [e for e in await room_events(world.clients["tib"], room) if e["content"].get("body") == answer]
    assert len(same) == 1, "one event, not two"
