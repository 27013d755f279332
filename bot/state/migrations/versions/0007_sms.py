"""The second channel: phone numbers (sealed), codes that confirm them, the SMS outbox, and the SMS step of a
convocation's ladder.

Frozen: this file never changes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

HISTORY = [(11, "sms: numbers, codes, outbox, the ladder's sms step")]


def upgrade() -> None:
    op.create_table(
        "phone_number",
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("lookup", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_phone_number_lookup", "phone_number", ["lookup"])
    op.create_table(
        "sms_code",
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("lookup", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("lookup", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(), nullable=True),
        sa.Column("event_key", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    for column in ("user_id", "lookup", "ref", "event_key", "state"):
        op.create_index(f"ix_sms_{column}", "sms", [column])
    with op.batch_alter_table("summons") as batch:
        batch.add_column(sa.Column("sms_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_summons_sms_due_at", ["sms_due_at"])
    with op.batch_alter_table("convocation") as batch:
        batch.add_column(sa.Column("sms_after", sa.Integer(), nullable=True))
    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": datetime.now(UTC)} for v, d in HISTORY])


def downgrade() -> None:
    with op.batch_alter_table("convocation") as batch:
        batch.drop_column("sms_after")
    with op.batch_alter_table("summons") as batch:
        batch.drop_index("ix_summons_sms_due_at")
        batch.drop_column("sms_due_at")
    op.drop_table("sms")
    op.drop_table("sms_code")
    op.drop_table("phone_number")
    op.execute("DELETE FROM schema_version WHERE version = 11")
