"""Links that show a forum's live board on a wall screen.

Frozen: this file never changes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

HISTORY = [(13, "board: links for wall screens")]


def upgrade() -> None:
    op.create_table(
        "board_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("forum_id", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index("ix_board_link_forum_id", "board_link", ["forum_id"])
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    op.drop_table("board_link")
    op.execute("DELETE FROM schema_version WHERE version = 13")
