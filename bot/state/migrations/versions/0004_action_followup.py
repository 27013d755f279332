"""Actions followed up: the one chase of an overdue action, and the deviation its owner reports.

Frozen: this file never changes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

HISTORY = [(8, "actions: chased when overdue, deviations")]


def upgrade() -> None:
    with op.batch_alter_table("log_entry") as batch:
        batch.add_column(sa.Column("chased_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deviation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("deviation_at", sa.DateTime(timezone=True), nullable=True))
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    with op.batch_alter_table("log_entry") as batch:
        batch.drop_column("deviation_at")
        batch.drop_column("deviation")
        batch.drop_column("chased_at")
    op.execute("DELETE FROM schema_version WHERE version = 8")
