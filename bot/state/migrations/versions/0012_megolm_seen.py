"""Megolm messages seen: what identifies each decrypted message, so a copy of its ciphertext is refused.

Frozen: this file never changes.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None

HISTORY = [(16, "megolm: the decrypted messages seen, against replays")]


def upgrade() -> None:
    op.create_table(
        "megolm_seen",
        sa.Column("room_id", sa.String(), nullable=False),
        sa.Column("session_id", sa.String(), nullable=False),
        sa.Column("message_index", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "session_id", "message_index"),
    )
    op.create_index("ix_megolm_seen_seen_at", "megolm_seen", ["seen_at"])
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    op.drop_index("ix_megolm_seen_seen_at", table_name="megolm_seen")
    op.drop_table("megolm_seen")
    op.execute("DELETE FROM schema_version WHERE version = 16")
