"""Pinned identities: the cross-signing master key the bot trusts for each person.

Frozen: this file never changes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

HISTORY = [(14, "identities: the master key pinned for each person")]


def upgrade() -> None:
    op.create_table(
        "identity_pin",
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("pinned_key", sa.String(), nullable=False),
        sa.Column("seen_key", sa.String(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    op.drop_table("identity_pin")
    op.execute("DELETE FROM schema_version WHERE version = 14")
