"""Forums formed for an event (!bilda), dissolved with !upplös or with their parent.

Frozen: this file never changes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

HISTORY = [(10, "forums formed for an event")]


def upgrade() -> None:
    op.create_table(
        "formed_forum",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("forum_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("parent_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("chair", sa.String(), nullable=False),
        sa.Column("functions", sa.String(), nullable=False),
        sa.Column("room", sa.String(), nullable=False),
        sa.Column("formed_by", sa.String(), nullable=False),
        sa.Column("formed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dissolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dissolved_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_formed_forum_forum_id", "formed_forum", ["forum_id"], unique=True)
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    op.drop_table("formed_forum")
    op.execute("DELETE FROM schema_version WHERE version = 10")
