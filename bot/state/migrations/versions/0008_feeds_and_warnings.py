"""Feeds the bot polls (their last good copy), SMHI's warnings that concern the region, and the proposals made
for them.

Frozen: this file never changes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

HISTORY = [(12, "feeds: last good copies; SMHI warnings and activation proposals")]


def upgrade() -> None:
    op.create_table(
        "feed",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.Column("digest", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("good_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("fault", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "weather_warning",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("warning_id", sa.String(), nullable=False),
        sa.Column("event_code", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_weather_warning_warning_id", "weather_warning", ["warning_id"])
    op.create_table(
        "warning_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_key", sa.String(), nullable=False),
        sa.Column("forum_id", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quiet", sa.Boolean(), nullable=False),
        sa.Column("activation_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("warning_key", "forum_id", "level"),
    )
    op.create_index("ix_warning_proposal_warning_key", "warning_proposal", ["warning_key"])
    op.create_index("ix_warning_proposal_activation_id", "warning_proposal", ["activation_id"])
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    for table in ("warning_proposal", "weather_warning", "feed"):
        op.drop_table(table)
    op.execute("DELETE FROM schema_version WHERE version = 12")
