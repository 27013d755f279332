"""A convocation's end (deactivated, replaced, cancelled, moved), so that no step of it is delivered after;
the code a person's SMS carries when two convocations are open on one number; a summons declined.

Frozen: this file never changes.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None

HISTORY = [(15, "convocation: its end; sms: reply codes; summons: declined")]


def upgrade() -> None:
    with op.batch_alter_table("convocation") as table:
        table.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("ended_why", sa.String(), nullable=True))
    with op.batch_alter_table("sms") as table:
        table.add_column(sa.Column("code", sa.String(), nullable=True))
    with op.batch_alter_table("summons") as table:
        table.add_column(sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True))
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    with op.batch_alter_table("summons") as table:
        table.drop_column("declined_at")
    with op.batch_alter_table("sms") as table:
        table.drop_column("code")
    with op.batch_alter_table("convocation") as table:
        table.drop_column("ended_why")
        table.drop_column("ended_at")
    op.execute("DELETE FROM schema_version WHERE version = 15")
