"""Joint public messages (gemensamt budskap): the message, its versions, each organisation's answers.

Frozen: this file never changes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

HISTORY = [(7, "joint messages: versions and answers")]


def upgrade() -> None:
    op.create_table(
        "joint_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("forum_id", sa.String(), nullable=False),
        sa.Column("activation_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(), nullable=True),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("author_function", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fixed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fixed_by", sa.String(), nullable=True),
        sa.Column("fixed_function", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_joint_message_forum_id", "joint_message", ["forum_id"])
    op.create_index("ix_joint_message_activation_id", "joint_message", ["activation_id"])
    op.create_table(
        "joint_message_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_joint_message_version_message_id", "joint_message_version", ["message_id"])
    op.create_table(
        "joint_message_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.String(), nullable=False),
        sa.Column("function_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_joint_message_answer_message_id", "joint_message_answer", ["message_id"])
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    op.drop_table("joint_message_answer")
    op.drop_table("joint_message_version")
    op.drop_table("joint_message")
    op.execute("DELETE FROM schema_version WHERE version = 7")
