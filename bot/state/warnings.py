"""SMHI's warnings that concern the region as the bot last saw them, and the proposals made for them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.forums import same_event
from bot.domain.warnings import Area, Seen, Text, WarningItem
from bot.state.models import ActivationRow, WarningProposal, WeatherWarning


def seen(row: WeatherWarning) -> Seen:
    return Seen(row.level, row.published, row.starts_at, row.ends_at)


def as_item(row: WeatherWarning) -> WarningItem:
    data = json.loads(row.data)
    warning_id, _, area_id = row.key.partition(":")
    return WarningItem(warning_id=warning_id, area_id=area_id, event_code=row.event_code, event_sv=data["event_sv"],
                       event_en=data["event_en"], level=row.level, published=row.published, starts_at=row.starts_at,
                       ends_at=row.ends_at, areas=tuple(Area(**a) for a in data["areas"]),
                       texts=tuple(Text(**t) for t in data["texts"]))


async def get(session: AsyncSession, key: str) -> WeatherWarning | None:
    return await session.get(WeatherWarning, key)


async def in_force(session: AsyncSession) -> Sequence[WeatherWarning]:
    """The items still in SMHI's list, soonest first."""
    query = select(WeatherWarning).where(col(WeatherWarning.gone_at).is_(None)).order_by(
        col(WeatherWarning.starts_at), col(WeatherWarning.key))
    return (await session.exec(query)).all()


async def save(session: AsyncSession, item: WarningItem, now: datetime) -> WeatherWarning:
    row = await session.get(WeatherWarning, item.key) or WeatherWarning(
        key=item.key, warning_id=item.warning_id, event_code=item.event_code, level=item.level,
        published=item.published, data="{}", first_seen=now)
    row.event_code, row.level, row.published = item.event_code, item.level, item.published
    row.starts_at, row.ends_at, row.gone_at = item.starts_at, item.ends_at, None
    row.data = json.dumps({"event_sv": item.event_sv, "event_en": item.event_en,
                           "areas": [asdict(a) for a in item.areas], "texts": [asdict(t) for t in item.texts]},
                          ensure_ascii=False)
    session.add(row)
    return row


async def mark_gone(session: AsyncSession, row: WeatherWarning, now: datetime) -> None:
    row.gone_at = now
    session.add(row)


async def proposals_of(session: AsyncSession, key: str) -> Sequence[WarningProposal]:
    query = select(WarningProposal).where(WarningProposal.warning_key == key).order_by(col(WarningProposal.id))
    return (await session.exec(query)).all()


async def proposals_of_warning(session: AsyncSession, warning_id: str) -> Sequence[WarningProposal]:
    """The proposals made for any of a warning's areas."""
    query = select(WarningProposal).where(col(WarningProposal.warning_key).startswith(f"{warning_id}:", autoescape=True)
                                          ).order_by(col(WarningProposal.id))
    return (await session.exec(query)).all()


async def proposal(session: AsyncSession, proposal_id: int) -> WarningProposal | None:
    return await session.get(WarningProposal, proposal_id)


async def add_proposal(session: AsyncSession, row: WarningProposal) -> WarningProposal:
    session.add(row)
    await session.flush()
    return row


async def link(session: AsyncSession, forum_id: str, event: str, activation_id: int,
               chosen: WarningProposal | None = None) -> WarningProposal | None:
    """Tie an activation to the warning it answers: the proposal acted on, or else the newest proposal for this
    forum and event whose warning is still in force and not yet acted on."""
    if chosen is None:
        query = (select(WarningProposal).join(WeatherWarning, col(WeatherWarning.key) == WarningProposal.warning_key)
                 .where(WarningProposal.forum_id == forum_id, col(WarningProposal.activation_id).is_(None),
                        col(WeatherWarning.gone_at).is_(None))
                 .order_by(col(WarningProposal.id).desc()))
        chosen = next((p for p in (await session.exec(query)).all() if same_event(p.event, event)), None)
    if chosen is not None:
        chosen.activation_id = activation_id
        session.add(chosen)
    return chosen


async def of_activation(session: AsyncSession, activation_id: int | None) -> WeatherWarning | None:
    """The warning an activation came from, if any."""
    if activation_id is None:
        return None
    query = (select(WeatherWarning).join(WarningProposal, col(WeatherWarning.key) == WarningProposal.warning_key)
             .where(WarningProposal.activation_id == activation_id))
    return (await session.exec(query)).first()


async def activations_of(session: AsyncSession, key: str) -> list[int]:
    """The activations that came from this warning (a proposal is shared by the warning's areas: any of them)."""
    warning_id = key.partition(":")[0]
    query = select(WarningProposal.activation_id).where(
        col(WarningProposal.warning_key).startswith(f"{warning_id}:", autoescape=True),
        col(WarningProposal.activation_id).is_not(None))
    return [a for a in (await session.exec(query)).all() if a is not None]


async def activation(session: AsyncSession, activation_id: int | None) -> ActivationRow | None:
    """The activation a proposal led to."""
    return await session.get(ActivationRow, activation_id) if activation_id is not None else None


async def proposal_of_activation(session: AsyncSession, activation_id: int | None) -> WarningProposal | None:
    """The proposal an activation answered, if any."""
    if activation_id is None:
        return None
    query = select(WarningProposal).where(WarningProposal.activation_id == activation_id)
    return (await session.exec(query)).first()
