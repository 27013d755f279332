"""Situation reports and the weekly summaries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.lagesbild import Report
from bot.state.models import ReportRow, WeeklySummary


def domain(row: ReportRow) -> Report:
    return Report(row.organisation_id, row.function_id, row.author, row.at, row.text, json.loads(row.fields),
                  row.relayed_by, row.no_change)


async def add(session: AsyncSession, row: ReportRow) -> ReportRow:
    session.add(row)
    await session.flush()
    return row


async def of_week(session: AsyncSession, forum_id: str, year: int, week: int) -> Sequence[ReportRow]:
    query = (select(ReportRow).where(ReportRow.forum_id == forum_id, ReportRow.year == year, ReportRow.week == week)
             .order_by(col(ReportRow.at), col(ReportRow.id)))
    return (await session.exec(query)).all()


async def of_activation(session: AsyncSession, forum_id: str, activation_id: int) -> Sequence[ReportRow]:
    query = (select(ReportRow).where(ReportRow.forum_id == forum_id, ReportRow.activation_id == activation_id)
             .order_by(col(ReportRow.at), col(ReportRow.id)))
    return (await session.exec(query)).all()


async def latest_of(session: AsyncSession, forum_id: str, organisation_id: str) -> ReportRow | None:
    query = (select(ReportRow).where(ReportRow.forum_id == forum_id, ReportRow.organisation_id == organisation_id)
             .order_by(col(ReportRow.at).desc(), col(ReportRow.id).desc()))
    return (await session.exec(query)).first()


async def summary(session: AsyncSession, forum_id: str, year: int, week: int) -> WeeklySummary | None:
    query = select(WeeklySummary).where(WeeklySummary.forum_id == forum_id, WeeklySummary.year == year,
                                        WeeklySummary.week == week)
    return (await session.exec(query)).first()


async def add_summary(session: AsyncSession, forum_id: str, year: int, week: int, at: datetime, body: str,
                      html: str) -> None:
    session.add(WeeklySummary(forum_id=forum_id, year=year, week=week, at=at, body=body, html=html))


async def of_activations(session: AsyncSession, activation_ids: Sequence[int]) -> Sequence[ReportRow]:
    query = (select(ReportRow).where(col(ReportRow.activation_id).in_(activation_ids))
             .order_by(col(ReportRow.at)))
    return (await session.exec(query)).all()
