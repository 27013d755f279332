"""Pinned identities, read and written as the domain's `Pin`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.identity import Pin
from bot.state.models import IdentityPin


def _pin(row: IdentityPin) -> Pin:
    return Pin(row.user_id, pinned=row.pinned_key, seen=row.seen_key, changed_at=row.changed_at)


async def get(session: AsyncSession, user_id: str) -> Pin | None:
    row = await session.get(IdentityPin, user_id)
    return _pin(row) if row is not None else None


async def put(session: AsyncSession, pin: Pin, now: datetime, approved_by: str | None = None) -> None:
    """Keep `pin`; `approved_by` records the administrator who approved its key."""
    row = await session.get(IdentityPin, pin.user_id)
    if row is None:
        row = IdentityPin(user_id=pin.user_id, pinned_key=pin.pinned, seen_key=pin.seen, first_seen_at=now)
    row.pinned_key, row.seen_key, row.changed_at = pin.pinned, pin.seen, pin.changed_at
    if approved_by is not None:
        row.approved_by, row.approved_at = approved_by, now
    session.add(row)


async def changed(session: AsyncSession) -> Sequence[Pin]:
    """Everyone whose identity changed and is not yet approved, oldest change first."""
    rows = (await session.exec(select(IdentityPin).where(col(IdentityPin.pinned_key) != col(IdentityPin.seen_key))
                               .order_by(col(IdentityPin.changed_at)))).all()
    return [_pin(row) for row in rows]
