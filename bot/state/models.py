"""SQLModel tables: the database is the truth for everything the bot must not forget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Dialect, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives them back aware (SQLite forgets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_column(**kwargs: Any) -> Any:
    return Column(UTCDateTime(), **kwargs)


class SchemaVersion(SQLModel, table=True):
    """Applied migrations, one row each."""

    __tablename__ = "schema_version"
    version: int = Field(primary_key=True)
    description: str
    applied_at: datetime = Field(sa_column=_utc_column(nullable=False))


class LeaseRow(SQLModel, table=True):
    """Which process runs the bot: one row, renewed every few seconds by the instance that holds it."""

    __tablename__ = "lease"
    name: str = Field(primary_key=True)
    holder: str  # a random id per process
    host: str
    pid: int
    since: datetime = Field(sa_column=_utc_column(nullable=False))
    renewed_at: datetime = Field(sa_column=_utc_column(nullable=False))


class KeyValue(SQLModel, table=True):
    """Small facts about the bot itself: sync token, device id, first sync time."""

    __tablename__ = "bot_state"
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class HandledEvent(SQLModel, table=True):
    """Event ids already handled, so a restart never runs a command twice."""

    __tablename__ = "handled_event"
    event_id: str = Field(primary_key=True)
    room_id: str
    handled_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))


class OutboxMessage(SQLModel, table=True):
    """A message to deliver. Written before it is sent; `txn_id` makes retries idempotent.

    `target` is a room id or alias, or `user:@someone:server` for a direct message.
    Lower `priority` goes first (room pings before direct messages before chatter).
    """

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    txn_id: str = Field(unique=True)
    target: str
    event_type: str = "m.room.message"
    content: str = Field(sa_column=Column(Text, nullable=False))
    priority: int = 5
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    not_before: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))
    event_id: str | None = None
    room_id: str | None = None
    failed: bool = False
    last_error: str | None = None
    state_key: str | None = None  # set for state events (topic, forum state)
    ref: str | None = Field(default=None, index=True)  # what the message is about, e.g. "request:12"


class AuditEntry(SQLModel, table=True):
    """Who did what, as which function, when and from which event; refusals too."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    user_id: str
    function_id: str | None = None
    action: str
    forum_id: str | None = Field(default=None, index=True)
    allowed: bool = True
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    event_id: str | None = None


class ForumStateRow(SQLModel, table=True):
    """The current mode of each forum; no row means ordinary mode with the configured chair."""

    __tablename__ = "forum_state"
    forum_id: str = Field(primary_key=True)
    mode: str = "ordinary"
    event: str | None = None
    description: str | None = None
    since: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    activated_by: str | None = None
    activated_by_function: str | None = None
    chair: str | None = None
    exercise: bool = False
    activation_id: int | None = None


class ActivationRow(SQLModel, table=True):
    """One activation of one forum, from start to end: the forum's full history."""

    __tablename__ = "activation"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    event: str
    description: str | None = None
    started_at: datetime = Field(sa_column=_utc_column(nullable=False))
    started_by: str
    started_by_function: str | None = None
    request_id: int | None = None
    exercise: bool = False
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ended_by: str | None = None


class ActivationRequest(SQLModel, table=True):
    """A member's request that a convener activate a forum ('the green button')."""

    __tablename__ = "activation_request"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    event: str
    description: str | None = None
    requested_at: datetime = Field(sa_column=_utc_column(nullable=False))
    requested_by: str
    requested_by_function: str
    request_room: str
    status: str = "pending"  # pending | confirmed | declined | closed
    answered_by: str | None = None
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    reason: str | None = None


class StandInRow(SQLModel, table=True):
    """`!tjänstgör`: a person holding a function in place of the roster, until a time or released."""

    __tablename__ = "stand_in"
    id: int | None = Field(default=None, primary_key=True)
    function_id: str = Field(index=True)
    user_id: str
    since: datetime = Field(sa_column=_utc_column(nullable=False))
    until: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    set_by: str
    released_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Convocation(SQLModel, table=True):
    """One kallelse of a forum: an activation, an extra conference, or a scheduled meeting."""

    __tablename__ = "convocation"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    kind: str  # activation | extra | a meeting kind (veckomöte, chefsgrupp, …; "meeting" in older rows)
    activation_id: int | None = None
    event: str | None = None
    subject: str | None = None
    mode: str = "ordinary"
    exercise: bool = False
    created_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
    created_by: str
    starts_at: datetime = Field(sa_column=_utc_column(nullable=False))  # when the conference begins
    sms_after: int | None = None  # seconds: unacknowledged this long, one SMS (None: no SMS)
    # When it stopped standing (None: it stands) and why: deactivated | replaced | cancelled | moved. From then
    # on none of its steps is delivered (`state.convocations.end`).
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ended_why: str | None = None
    call_after: int | None = None  # seconds: unacknowledged this long, a voice call (None: no call)


class Summons(SQLModel, table=True):
    """One function convened in one convocation: who was reached, acknowledgement, escalation.

    `due_at` is the pending escalation timer (None when nothing more is due); it lives here so
    a restart resumes it. `deputy_for` marks a deputy convened for an unanswered function.
    """

    __tablename__ = "summons"
    id: int | None = Field(default=None, primary_key=True)
    convocation_id: int = Field(index=True)
    function_id: str
    holders: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list, resolved at send time
    deputy_for: str | None = None
    added: bool = False  # added to the composition for this event (!kalla-in)
    convened_at: datetime = Field(sa_column=_utc_column(nullable=False))
    ack_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ack_by: str | None = None
    ack_note: str | None = None  # "joins 10:15" | "deputy" | "deputy: <function>"
    step: int = 0  # 0 convened, 1 pinged again and deputies convened, 2 reported as not reached
    due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))
    undeliverable: str | None = None  # why a holder could not be reached
    sms_due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))  # one SMS then
    declined_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # "cannot come" (SMS 2)
    call_due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))  # rung then


class AddedFunction(SQLModel, table=True):
    """Adapted composition (anpassad sammansättning): a function added to a forum for one activation."""

    __tablename__ = "added_function"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    activation_id: int
    function_id: str
    added_by: str
    added_at: datetime = Field(sa_column=_utc_column(nullable=False))


class MeetingChange(SQLModel, table=True):
    """`!flytta` / `!ställ-in`: one occurrence of a scheduled meeting moved or cancelled."""

    __tablename__ = "meeting_change"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    meeting: str
    original: datetime = Field(sa_column=_utc_column(nullable=False))
    moved_to: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # None: cancelled
    changed_by: str
    changed_at: datetime = Field(sa_column=_utc_column(nullable=False))


class MeetingRow(SQLModel, table=True):
    """One meeting (conference) of a forum: scheduled or called, from convocation to minutes."""

    __tablename__ = "meeting"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    name: str
    occurrence: str | None = Field(default=None, unique=True)  # the schedule's key; None for ad hoc
    starts_at: datetime = Field(sa_column=_utc_column(nullable=False))
    status: str = "planned"  # planned | open | ended | missed | cancelled
    opened_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    mode: str = "ordinary"
    activation_id: int | None = None
    event: str | None = None
    exercise: bool = False
    chair_function: str | None = None
    secretary_function: str | None = None
    convocation_id: int | None = None
    roll_call_ref: str | None = None


class Attendance(SQLModel, table=True):
    """A function present at a meeting (roll call), with the person who answered for it."""

    __tablename__ = "attendance"
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(index=True)
    function_id: str
    user_id: str
    deputy: bool = False  # a deputy attends for the function
    at: datetime = Field(sa_column=_utc_column(nullable=False))


class LogEntry(SQLModel, table=True):
    """The meeting log: a decision, direction, action or piece of information, as written."""

    __tablename__ = "log_entry"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    meeting_id: int | None = Field(default=None, index=True)
    activation_id: int | None = None
    event: str | None = None
    kind: str  # decision | direction | action | info
    text: str = Field(sa_column=Column(Text, nullable=False))
    author: str
    author_function: str | None = None
    at: datetime = Field(sa_column=_utc_column(nullable=False))
    owner_function: str | None = None  # actions: who is to do it
    due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    withdrawn_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    chased_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # overdue: asked once
    deviation: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the owner's word on it
    deviation_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class ReportRow(SQLModel, table=True):
    """One situation report (lägesbild) from an organisation, as written; a newer one replaces it in
    the compiled picture, but both are kept."""

    __tablename__ = "report"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    organisation_id: str
    function_id: str
    author: str
    at: datetime = Field(sa_column=_utc_column(nullable=False))
    year: int
    week: int = Field(index=True)
    activation_id: int | None = Field(default=None, index=True)
    event: str | None = None
    relayed_by: str | None = None  # organisation that passed it on (förmedlad)
    raw: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    fields: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    no_change: bool = False
    carried_from: int | None = None


class WeeklySummary(SQLModel, table=True):
    """'Regional lägesbild vecka NN' as posted."""

    __tablename__ = "weekly_summary"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    year: int
    week: int
    at: datetime = Field(sa_column=_utc_column(nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))


class JointMessage(SQLModel, table=True):
    """A joint public message (gemensamt budskap, seed 000): drafted in a forum, approved or objected to by
    each organisation of the composition, fixed by the chair. Its versions and answers are kept beside it."""

    __tablename__ = "joint_message"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    activation_id: int | None = Field(default=None, index=True)
    event: str | None = None
    author: str
    author_function: str
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # answers wanted by
    due_told_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # author told, once
    version: int = 1  # the version now asked for
    fixed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    fixed_by: str | None = None
    fixed_function: str | None = None


class JointMessageVersion(SQLModel, table=True):
    """One wording of a joint message; a revision starts the round of answers again."""

    __tablename__ = "joint_message_version"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(index=True)
    version: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    author: str
    at: datetime = Field(sa_column=_utc_column(nullable=False))


class JointMessageAnswer(SQLModel, table=True):
    """An organisation's answer to one version: it stands behind it, or objects with a reason."""

    __tablename__ = "joint_message_answer"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(index=True)
    version: int
    organisation_id: str
    function_id: str
    user_id: str
    approved: bool
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_column=_utc_column(nullable=False))


class DirectionReturn(SQLModel, table=True):
    """An organisation's word that it has taken a direction home (återfört, seed 000)."""

    __tablename__ = "direction_return"
    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(index=True)
    organisation_id: str
    function_id: str
    user_id: str
    at: datetime = Field(sa_column=_utc_column(nullable=False))


class FormedForum(SQLModel, table=True):
    """A forum formed for an event with !bilda (seed 000: verkställande forums "bildas vid behov"): kept
    here, not in the configuration, merged into the running one while it lives; dissolved, it stays for
    the record."""

    __tablename__ = "formed_forum"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True, unique=True)
    name: str
    level: str
    parent_id: str
    event: str
    chair: str  # function id
    functions: str  # JSON list of function ids: the composition
    room: str  # the alias the bot creates the room under
    formed_by: str
    formed_at: datetime = Field(sa_column=_utc_column(nullable=False))
    dissolved_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    dissolved_by: str | None = None


class PhoneNumber(SQLModel, table=True):
    """A person's mobile number for the second channel: sealed, found by its keyed hash (`lookup`)."""

    __tablename__ = "phone_number"
    user_id: str = Field(primary_key=True)
    number: str = Field(sa_column=Column(Text, nullable=False))  # sealed E.164
    lookup: str = Field(index=True)
    source: str  # contacts (the configuration's file) | self (!sms, confirmed by a texted code)
    confirmed_at: datetime = Field(sa_column=_utc_column(nullable=False))


class SmsCode(SQLModel, table=True):
    """A number someone asked to register, waiting for the code texted to it."""

    __tablename__ = "sms_code"
    user_id: str = Field(primary_key=True)
    number: str = Field(sa_column=Column(Text, nullable=False))  # sealed E.164
    lookup: str
    code: str  # the code's keyed hash
    tries: int = 0
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))


class SmsMessage(SQLModel, table=True):
    """An SMS to send, written before it is sent, with what the gateway said of it since.

    `state`: queued -> accepted (the gateway took it) -> delivered | failed. `key` says what it is for (one
    person's SMS for one convocation), so one step never texts a person twice.
    """

    __tablename__ = "sms"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    kind: str  # convocation | reply | code | notice
    user_id: str | None = Field(default=None, index=True)  # None: a number the bot does not know
    number: str = Field(sa_column=Column(Text, nullable=False))  # sealed E.164
    lookup: str = Field(index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    ref: str | None = Field(default=None, index=True)  # conv:N
    event_key: str | None = Field(default=None, index=True)  # what the cost cap counts by
    state: str = Field(default="queued", index=True)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    not_before: datetime = Field(sa_column=_utc_column(nullable=False))
    attempts: int = 0
    accepted_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    failed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_error: str | None = None
    code: str | None = None  # the letter a reply names it by (`1A`), among the number's open convocations


class VoiceCall(SQLModel, table=True):
    """One voice call to one person for one convocation, written before it is dialled, with how it ended.

    `state`: queued -> dialling -> answered -> an end (see bot/domain/voice.py). `key` (convocation, person,
    attempt) makes one step ring a person once, whatever crashes in between.
    """

    __tablename__ = "call"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    convocation_id: int = Field(index=True)
    user_id: str = Field(index=True)
    number: str = Field(sa_column=Column(Text, nullable=False))  # sealed E.164
    attempt: int = 1
    state: str = Field(default="queued", index=True)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    not_before: datetime = Field(sa_column=_utc_column(nullable=False))
    dialled_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    digit: str | None = None
    dials: int = 0  # how often it was dialled: more than once only after a crash during the call
    last_error: str | None = None


class FeedCopy(SQLModel, table=True):
    """The last good copy of a polled feed (SMHI's warnings, a rota calendar) and how its polling goes: kept so
    that a restart without network still has it, and `health` can say since when it is stale."""

    __tablename__ = "feed"
    name: str = Field(primary_key=True)  # "warnings", "schedule:nacka-tib"
    url: str
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None  # sha256 of the body: an unchanged body from a server without ETag changes nothing
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    good_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))  # last answer read well
    failing_since: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    misses: int = 0  # polls in a row without a good answer
    fault: str | None = None


class WeatherWarning(SQLModel, table=True):
    """One warning area of one SMHI warning that concerns the region, as last seen; `gone_at` once it dropped out
    of SMHI's list (cancelled or expired)."""

    __tablename__ = "weather_warning"
    key: str = Field(primary_key=True)  # "<warning id>:<warning-area id>"
    warning_id: str = Field(index=True)
    event_code: str
    level: str
    published: datetime = Field(sa_column=_utc_column(nullable=False))
    starts_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    ends_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    data: str = Field(sa_column=Column(Text, nullable=False))  # SMHI's names and texts, as JSON
    first_seen: datetime = Field(sa_column=_utc_column(nullable=False))
    gone_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class WarningProposal(SQLModel, table=True):
    """A proposal to activate a forum for a warning, at one level: made once, whatever restarts. The message is
    the outbox row with ref "warning:<id>"; `activation_id` is the activation it led to."""

    __tablename__ = "warning_proposal"
    __table_args__ = (UniqueConstraint("warning_key", "forum_id", "level"),)
    id: int | None = Field(default=None, primary_key=True)
    warning_key: str = Field(index=True)
    forum_id: str
    level: str
    event: str
    proposed_at: datetime = Field(sa_column=_utc_column(nullable=False))
    quiet: bool = False  # the forum was already activated: the proposal was posted without ringing
    activation_id: int | None = Field(default=None, index=True)


class BoardLink(SQLModel, table=True):
    """A link that shows one forum's board on a wall screen where no Element runs: valid until `expires_at` unless
    revoked. Only a hash of its secret is kept."""

    __tablename__ = "board_link"
    id: int | None = Field(default=None, primary_key=True)
    forum_id: str = Field(index=True)
    secret_hash: str = Field(unique=True)
    created_by: str
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    revoked_by: str | None = None


class IdentityPin(SQLModel, table=True):
    """A person's cross-signing identity as the bot trusts it: the master key a key query showed before the
    person wrote ("" if it showed none), or the one an administrator approved; and the one the homeserver
    serves now, which differs after a reset or a first identity not seen ahead of time."""

    __tablename__ = "identity_pin"
    user_id: str = Field(primary_key=True)
    pinned_key: str
    seen_key: str
    first_seen_at: datetime = Field(sa_column=_utc_column(nullable=False))
    changed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    approved_by: str | None = None
    approved_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class MegolmSeen(SQLModel, table=True):
    """A Megolm message the bot decrypted, by what identifies it whatever event carries it: the room, the
    sender's Megolm session and the message's index in it. A second event with the same is a copy of the
    ciphertext (a replay) and is refused. A row with index -1 closes a session whose rows were pruned."""

    __tablename__ = "megolm_seen"
    room_id: str = Field(primary_key=True)
    session_id: str = Field(primary_key=True)
    message_index: int = Field(primary_key=True)
    event_id: str
    seen_at: datetime = Field(sa_column=_utc_column(nullable=False, index=True))
