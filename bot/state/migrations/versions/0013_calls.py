"""Voice calls: the call outbox, and the voice step of a convocation's ladder.

Frozen: this file never changes.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None

HISTORY = [(17, "voice: calls, the ladder's call step")]


def upgrade() -> None:
    op.create_table(
        "call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("convocation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dialled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digit", sa.String(), nullable=True),
        sa.Column("dials", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    for column in ("convocation_id", "user_id", "state"):
        op.create_index(f"ix_call_{column}", "call", [column])
    with op.batch_alter_table("summons") as batch:
        batch.add_column(sa.Column("call_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_summons_call_due_at", ["call_due_at"])
    with op.batch_alter_table("convocation") as batch:
        batch.add_column(sa.Column("call_after", sa.Integer(), nullable=True))
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    with op.batch_alter_table("convocation") as batch:
        batch.drop_column("call_after")
    with op.batch_alter_table("summons") as batch:
        batch.drop_index("ix_summons_call_due_at")
        batch.drop_column("call_due_at")
    op.drop_table("call")
    op.execute("DELETE FROM schema_version WHERE version = 17")
