"""Baseline: the schema of the five numbered migrations before Alembic.

Frozen: this file never changes. A change to the tables is a new revision beside it. A database
made by the release before Alembic already has this schema; `bot.state.db` stamps it instead
of running this.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

# The history people read in schema_version: one row for each step the schema took.
HISTORY = [
    (1, "bot state, handled events, outbox, audit"),
    (2, "forum state, activations, activation requests"),
    (3, "stand-ins, convocations, summonses, added functions"),
    (4, "meetings: changes, meetings, attendance, meeting log"),
    (5, "situation reports and weekly summaries"),
]


def upgrade() -> None:
    op.create_table('activation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(), nullable=False),
    sa.Column('started_by_function', sa.String(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_activation_forum_id'), 'activation', ['forum_id'], unique=False)
    op.create_table('activation_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(), nullable=False),
    sa.Column('requested_by_function', sa.String(), nullable=False),
    sa.Column('request_room', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('answered_by', sa.String(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_activation_request_forum_id'), 'activation_request', ['forum_id'], unique=False)
    op.create_table('added_function',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('activation_id', sa.Integer(), nullable=False),
    sa.Column('function_id', sa.String(), nullable=False),
    sa.Column('added_by', sa.String(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_added_function_forum_id'), 'added_function', ['forum_id'], unique=False)
    op.create_table('attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('function_id', sa.String(), nullable=False),
    sa.Column('user_id', sa.String(), nullable=False),
    sa.Column('deputy', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_attendance_meeting_id'), 'attendance', ['meeting_id'], unique=False)
    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.String(), nullable=False),
    sa.Column('function_id', sa.String(), nullable=True),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=True),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('event_id', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_at'), 'audit', ['at'], unique=False)
    op.create_index(op.f('ix_audit_forum_id'), 'audit', ['forum_id'], unique=False)
    op.create_table('bot_state',
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('convocation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('activation_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(), nullable=True),
    sa.Column('subject', sa.String(), nullable=True),
    sa.Column('mode', sa.String(), nullable=False),
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_convocation_created_at'), 'convocation', ['created_at'], unique=False)
    op.create_index(op.f('ix_convocation_forum_id'), 'convocation', ['forum_id'], unique=False)
    op.create_table('forum_state',
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('mode', sa.String(), nullable=False),
    sa.Column('event', sa.String(), nullable=True),
    sa.Column('description', sa.String(), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_by', sa.String(), nullable=True),
    sa.Column('activated_by_function', sa.String(), nullable=True),
    sa.Column('chair', sa.String(), nullable=True),
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('activation_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('forum_id')
    )
    op.create_table('handled_event',
    sa.Column('event_id', sa.String(), nullable=False),
    sa.Column('room_id', sa.String(), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index(op.f('ix_handled_event_handled_at'), 'handled_event', ['handled_at'], unique=False)
    op.create_table('log_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('activation_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(), nullable=True),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author', sa.String(), nullable=False),
    sa.Column('author_function', sa.String(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('owner_function', sa.String(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_log_entry_forum_id'), 'log_entry', ['forum_id'], unique=False)
    op.create_index(op.f('ix_log_entry_meeting_id'), 'log_entry', ['meeting_id'], unique=False)
    op.create_table('meeting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('occurrence', sa.String(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mode', sa.String(), nullable=False),
    sa.Column('activation_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(), nullable=True),
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('chair_function', sa.String(), nullable=True),
    sa.Column('secretary_function', sa.String(), nullable=True),
    sa.Column('convocation_id', sa.Integer(), nullable=True),
    sa.Column('roll_call_ref', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('occurrence')
    )
    op.create_index(op.f('ix_meeting_forum_id'), 'meeting', ['forum_id'], unique=False)
    op.create_table('meeting_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('meeting', sa.String(), nullable=False),
    sa.Column('original', sa.DateTime(timezone=True), nullable=False),
    sa.Column('moved_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('changed_by', sa.String(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_meeting_change_forum_id'), 'meeting_change', ['forum_id'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('txn_id', sa.String(), nullable=False),
    sa.Column('target', sa.String(), nullable=False),
    sa.Column('event_type', sa.String(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('event_id', sa.String(), nullable=True),
    sa.Column('room_id', sa.String(), nullable=True),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.String(), nullable=True),
    sa.Column('state_key', sa.String(), nullable=True),
    sa.Column('ref', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('txn_id')
    )
    op.create_index(op.f('ix_outbox_not_before'), 'outbox', ['not_before'], unique=False)
    op.create_index(op.f('ix_outbox_ref'), 'outbox', ['ref'], unique=False)
    op.create_index(op.f('ix_outbox_sent_at'), 'outbox', ['sent_at'], unique=False)
    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('organisation_id', sa.String(), nullable=False),
    sa.Column('function_id', sa.String(), nullable=False),
    sa.Column('author', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('week', sa.Integer(), nullable=False),
    sa.Column('activation_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(), nullable=True),
    sa.Column('relayed_by', sa.String(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('no_change', sa.Boolean(), nullable=False),
    sa.Column('carried_from', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_report_activation_id'), 'report', ['activation_id'], unique=False)
    op.create_index(op.f('ix_report_forum_id'), 'report', ['forum_id'], unique=False)
    op.create_index(op.f('ix_report_week'), 'report', ['week'], unique=False)
    op.create_table('schema_version',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('stand_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('function_id', sa.String(), nullable=False),
    sa.Column('user_id', sa.String(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('set_by', sa.String(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_stand_in_function_id'), 'stand_in', ['function_id'], unique=False)
    op.create_table('summons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('convocation_id', sa.Integer(), nullable=False),
    sa.Column('function_id', sa.String(), nullable=False),
    sa.Column('holders', sa.Text(), nullable=False),
    sa.Column('deputy_for', sa.String(), nullable=True),
    sa.Column('added', sa.Boolean(), nullable=False),
    sa.Column('convened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ack_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ack_by', sa.String(), nullable=True),
    sa.Column('ack_note', sa.String(), nullable=True),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undeliverable', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_summons_convocation_id'), 'summons', ['convocation_id'], unique=False)
    op.create_index(op.f('ix_summons_due_at'), 'summons', ['due_at'], unique=False)
    op.create_table('weekly_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.String(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('week', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_weekly_summary_forum_id'), 'weekly_summary', ['forum_id'], unique=False)

    history = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("description", sa.String),
                       sa.column("applied_at", sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    op.bulk_insert(history, [{"version": v, "description": d, "applied_at": now} for v, d in HISTORY])


def downgrade() -> None:
    op.drop_index(op.f('ix_weekly_summary_forum_id'), table_name='weekly_summary')
    op.drop_table('weekly_summary')
    op.drop_index(op.f('ix_summons_due_at'), table_name='summons')
    op.drop_index(op.f('ix_summons_convocation_id'), table_name='summons')
    op.drop_table('summons')
    op.drop_index(op.f('ix_stand_in_function_id'), table_name='stand_in')
    op.drop_table('stand_in')
    op.drop_table('schema_version')
    op.drop_index(op.f('ix_report_week'), table_name='report')
    op.drop_index(op.f('ix_report_forum_id'), table_name='report')
    op.drop_index(op.f('ix_report_activation_id'), table_name='report')
    op.drop_table('report')
    op.drop_index(op.f('ix_outbox_sent_at'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_ref'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_not_before'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_meeting_change_forum_id'), table_name='meeting_change')
    op.drop_table('meeting_change')
    op.drop_index(op.f('ix_meeting_forum_id'), table_name='meeting')
    op.drop_table('meeting')
    op.drop_index(op.f('ix_log_entry_meeting_id'), table_name='log_entry')
    op.drop_index(op.f('ix_log_entry_forum_id'), table_name='log_entry')
    op.drop_table('log_entry')
    op.drop_index(op.f('ix_handled_event_handled_at'), table_name='handled_event')
    op.drop_table('handled_event')
    op.drop_table('forum_state')
    op.drop_index(op.f('ix_convocation_forum_id'), table_name='convocation')
    op.drop_index(op.f('ix_convocation_created_at'), table_name='convocation')
    op.drop_table('convocation')
    op.drop_table('bot_state')
    op.drop_index(op.f('ix_audit_forum_id'), table_name='audit')
    op.drop_index(op.f('ix_audit_at'), table_name='audit')
    op.drop_table('audit')
    op.drop_index(op.f('ix_attendance_meeting_id'), table_name='attendance')
    op.drop_table('attendance')
    op.drop_index(op.f('ix_added_function_forum_id'), table_name='added_function')
    op.drop_table('added_function')
    op.drop_index(op.f('ix_activation_request_forum_id'), table_name='activation_request')
    op.drop_table('activation_request')
    op.drop_index(op.f('ix_activation_forum_id'), table_name='activation')
    op.drop_table('activation')
