"""Plain values that cross the boundary to Matrix: what came in, what should go out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """A text message someone sent in a room the bot is in."""

    room_id: str
    sender: str
    event_id: str
    body: str
    sent_at: datetime
    is_direct: bool = False
    thread_root: str | None = None  # the thread the message was sent in, if any
    device_unsigned: bool = False  # sent from a device its owner has not cross-signed
    plaintext: bool = False  # sent unencrypted to a bot that encrypts: it proves no session
    master_key: str | None = None  # the sender's cross-signing master key, as the homeserver serves it


@dataclass(frozen=True)
class Reaction:
    """An emoji reaction someone put on one of the bot's messages."""

    room_id: str
    sender: str
    event_id: str
    reacts_to: str
    key: str
    sent_at: datetime
    # Reactions go unencrypted from every client, so they prove no session: what counts is whether every
    # session of the sender is cross-signed, and by which master key.
    all_signed: bool = True
    master_key: str | None = None


APPROVING = frozenset({"✅", "👍", "✔", "☑", "👌"})


def approves(key: str) -> bool:
    """✅ and 👍 (with or without skin tone or variation selector) say yes."""
    base = "".join(ch for ch in key if ch not in "\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")
    return base in APPROVING


@dataclass(frozen=True)
class Attachment:
    """A file sent after its message: minutes, a calendar."""

    filename: str
    mimetype: str
    data: str


@dataclass(frozen=True)
class Message:
    """Something the bot should say. Nothing is sent here; the outbox delivers it.

    `ping=True` makes a phone ring: `m.text` with `m.mentions` for every id in `mentions`.
    Otherwise the message is an `m.notice`, which default push rules keep quiet.
    `target` is a room id or alias, or `user:@someone:server` for that person's direct room.
    """

    target: str
    body: str
    html: str
    ping: bool = False
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None
    thread_root: str | None = None  # answered in this thread (a reply to a command sent in one)
    priority: int = 5
    ref: str | None = None  # what this message is about (e.g. "request:12"), for reactions to it
    attachment: Attachment | None = None  # sent as a file right after the message
    pin: bool = False  # pinned in its room once sent (the activation message: a banner on Element X)
    pin_stays: bool = False  # a pin the forum's deactivation leaves (a fixed joint message)
    replaces: str | None = None  # the event id of the bot's message this edits (m.replace): it notifies nobody


MESSAGE, ATTACHMENT = "message", "attachment"  # the kinds of outgoing content the outbox stores


def message_data(message: Message) -> dict[str, Any]:
    """A message as plain JSON-able data, for the outbox (its attachment is stored on its own)."""
    data = asdict(message)
    data.pop("attachment")
    return data


def message_from_data(data: dict[str, Any]) -> Message:
    return Message(**{**data, "mentions": tuple(data.get("mentions", ()))})


# Delivery order: the room ping that reaches everyone first, then answers, then direct messages, chatter last.
PRIORITY_PING = 0
PRIORITY_ANSWER = 1  # the answer to a command someone just typed: before a backlog of direct messages
PRIORITY_DIRECT = 2
PRIORITY_REPLY = 5


SMS_ONLY = "sms:"  # a holder with a number and no Matrix account, by name: "sms:Kalle Karlsson"


def on_matrix(user_id: str) -> bool:
    """Whether a holder has a Matrix account (not one convened by SMS only)."""
    return user_id.startswith("@")


def matrix_reachable(messages: Sequence[Outgoing]) -> list[Outgoing]:
    """The messages as Matrix can deliver them: none to a direct room of someone without a Matrix account, and
    no mention of one (such a holder is reached by SMS)."""
    out: list[Outgoing] = []
    for message in messages:
        if isinstance(message, Message):
            if message.target.startswith("user:") and not on_matrix(message.target.removeprefix("user:")):
                continue
            if any(not on_matrix(u) for u in message.mentions):
                message = replace(message, mentions=tuple(u for u in message.mentions if on_matrix(u)))
        out.append(message)
    return out


def direct_target(user_id: str) -> str:
    """The outbox target for a person's direct room with the bot."""
    return f"user:{user_id}"


# A topic update whose content is {TOPIC_PREFIX: "AKTIVERAT: …"} puts that in front of the topic people
# wrote (an empty prefix restores theirs); {UNPIN: True} on m.room.pinned_events unpins what the bot pinned
# until deactivation (the activation banner; a fixed joint message stays).
TOPIC_PREFIX = "se.samverkan.topic_prefix"
UNPIN = "se.samverkan.unpin"
# {LAYOUT_ENTRY: {"id": widget id, "entry": {...} | None}} on io.element.widgets.layout sets (or, with None,
# removes) the bot's own widget in the room's layout and leaves every other widget's place as it is.
LAYOUT_ENTRY = "se.samverkan.layout_entry"


@dataclass(frozen=True)
class StateUpdate:
    """A room state event to set, such as the topic that shows a forum's mode."""

    target: str
    event_type: str
    content: dict[str, Any]
    state_key: str = ""
    priority: int = PRIORITY_REPLY


@dataclass(frozen=True)
class Sms:
    """An SMS to send: to a person (`user_id`) or a number the bot does not know, already sealed.

    `key` says what it is for: the same key is never texted twice, whatever crashes in between.
    """

    key: str
    kind: str  # convocation | reply | code | notice
    number: str  # sealed
    lookup: str
    text: str
    user_id: str | None = None
    ref: str | None = None  # conv:N
    event_key: str | None = None  # what the cost cap counts by
    code: str | None = None  # the letter a reply names it by (`1A`), among the number's open convocations


@dataclass(frozen=True)
class SmsIn:
    """An SMS someone sent the bot's number (a reply), as the gateway handed it over."""

    gateway_id: str  # the gateway's id for it: the same SMS handed over twice is handled once
    number: str  # sealed
    lookup: str
    text: str
    masked: str  # the number as it may be shown


Outgoing = Message | StateUpdate | Sms
