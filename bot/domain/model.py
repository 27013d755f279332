"""The model's value types, as the configuration describes the region: organisations, functions,
forums and their meetings. Pure data with its own validation; `bot.config` builds them from TOML."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from dateutil.rrule import rrulestr
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from bot.domain.timeparse import parse_duration

if TYPE_CHECKING:
    from bot.domain.warnings import WarningOptions

_USER_ID = re.compile(r"^@[a-z0-9._=/+\-]+:[A-Za-z0-9.\-]+(:\d+)?$")
# Aliases and older room ids end in :server; room ids of version 12 (Synapse's default) are `!opaque`.
_ROOM = re.compile(r"^(#[^:\s]+:[A-Za-z0-9.\-]+(:\d+)?|![^:\s]+(:[A-Za-z0-9.\-]+(:\d+)?)?)$")
_ID = re.compile(r"^[a-z0-9][a-z0-9\-_]*$")


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def is_user_id(value: str) -> bool:
    return bool(_USER_ID.match(value))


def _check_user_id(value: str) -> str:
    if not _USER_ID.match(value):
        raise ValueError(f"not a Matrix user id: {value!r} (expected @name:server)")
    return value


def _check_room(value: str) -> str:
    if not _ROOM.match(value):
        raise ValueError(f"not a Matrix room alias or id: {value!r} (expected #name:server, !id or !id:server)")
    return value


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"ids are lower-case letters, digits and '-': {value!r}")
    return value


UserId = Annotated[str, BeforeValidator(_check_user_id)]
RoomRef = Annotated[str, BeforeValidator(_check_room)]
Ident = Annotated[str, BeforeValidator(_check_id)]


class Strict(BaseModel):
    """Frozen, and every unknown key is an error with its place."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Organisation(Strict):
    id: Ident
    name: str
    aliases: tuple[str, ...] = ()
    home_room: RoomRef | None = None


class Rotation(Strict):
    every: Duration = timedelta(weeks=1)
    handover: datetime


class Function(Strict):
    id: Ident
    organisation: str
    name: str
    aliases: tuple[str, ...] = ()
    may_convene: bool = False
    holders: tuple[UserId, ...] = ()
    rotation: Rotation | None = None
    deputies: tuple[str, ...] = ()
    ack_within: Duration = timedelta(minutes=5)
    # The organisation's duty schedule for it: an iCalendar feed (https://…/tib.ics) or a file, polled.
    schedule: str | None = None
    schedule_every: Duration = timedelta(minutes=15)


class Person(Strict):
    """Someone a duty schedule names, by e-mail address or name, mapped to their Matrix account."""

    user: UserId
    name: str
    email: str | None = None


class Conference(Strict):
    phone: str | None = None
    pin: str | None = None
    url: str | None = None
    sip: str | None = None  # the bridge's SIP address: a call's key 2 transfers the caller there (REFER)

    @field_validator("sip")
    @classmethod
    def _sip(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"sips?:[^\s@]+@[^\s]+", value):
            raise ValueError(f"a SIP address such as sip:samordnande@konferens.example.org, not {value!r}")
        return value


MEETING_KINDS = ("veckomöte", "chefsgrupp", "samordningsgrupp", "extra")
COLLECTS_REPORTS = ("veckomöte", "extra")  # the samverkanskonferenser, where the actors' lägesbilder are shared


class Meeting(Strict):
    """A recurring meeting of a forum. Its kind gives its agenda and whether lägesbilder are asked for."""

    name: str
    kind: Literal["veckomöte", "chefsgrupp", "samordningsgrupp", "extra"] = "veckomöte"
    rrule: str
    duration: Duration = timedelta(minutes=30)
    convene_before: Duration = timedelta(hours=24)
    remind_before: Duration = timedelta(minutes=15)
    report_due_before: Duration = timedelta(hours=2)
    summary_before: Duration = timedelta(minutes=10)  # when "Regional lägesbild vecka NN" is posted
    # Unacknowledged this long after the convocation rings: one SMS (off for planned meetings unless set).
    sms_after: Duration | None = None
    # Unacknowledged this long after the convocation rings: a voice call (off for planned meetings unless set).
    call_after: Duration | None = None
    # The first occurrence, in local time; needed when the rule has an INTERVAL (every other week).
    start: datetime | None = None

    @field_validator("rrule")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            rrulestr(value, dtstart=datetime(2026, 1, 1))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"RRULE does not parse: {exc}") from None
        return value

    @property
    def collects_reports(self) -> bool:
        return self.kind in COLLECTS_REPORTS


RHYTHM_SHORTEST, RHYTHM_LONGEST = timedelta(minutes=30), timedelta(hours=24)  # how often a rhythm may meet


class Forum(Strict):
    id: Ident
    name: str
    level: Literal["inriktande", "samordnande", "verkställande"]
    aliases: tuple[str, ...] = ()
    room: RoomRef
    chair: str
    ordinary: tuple[str, ...] = ()
    activated: tuple[str, ...] = ()
    conference: Conference = Conference()
    meetings: tuple[Meeting, ...] = Field(default=(), alias="meeting")
    # While activated, a conference this often (the chair may change it with !rytm); none by default.
    activated_rhythm: Duration | None = None

    @field_validator("activated_rhythm")
    @classmethod
    def _sensible_rhythm(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and not RHYTHM_SHORTEST <= value <= RHYTHM_LONGEST:
            raise ValueError("a conference between every 30 minutes and every 24 hours (e.g. \"4h\")")
        return value

    def members(self) -> tuple[str, ...]:
        """Every function of either composition, ordinary first, without repeats."""
        return tuple(dict.fromkeys(self.ordinary + self.activated))


class BotOptions(Protocol):
    """What the rules read of the bot's own settings."""

    @property
    def admins(self) -> tuple[str, ...]: ...
    @property
    def log_room(self) -> str | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def command_prefix(self) -> str: ...
    @property
    def reconvene_within(self) -> timedelta: ...
    @property
    def commands_per_minute(self) -> int: ...
    @property
    def rota_gaps_to(self) -> str | None: ...


class SmsOptions(Protocol):
    """What the convocation needs of the second channel's configuration."""

    @property
    def sms_after(self) -> timedelta: ...
    @property
    def max_per_event(self) -> int: ...
    @property
    def country(self) -> str: ...


class VoiceOptions(Protocol):
    """What the convocation needs of the voice channel's configuration."""

    @property
    def call_after(self) -> timedelta: ...
    @property
    def domain(self) -> str: ...


class SecurityOptions(Protocol):
    @property
    def commands_from(self) -> str: ...


class Region(Protocol):
    """The configured region: what `Directory` indexes (the configuration's Settings is one)."""

    @property
    def bot(self) -> BotOptions: ...
    @property
    def organisations(self) -> tuple[Organisation, ...]: ...
    @property
    def functions(self) -> tuple[Function, ...]: ...
    @property
    def forums(self) -> tuple[Forum, ...]: ...
    @property
    def sms(self) -> SmsOptions | None: ...
    @property
    def voice(self) -> VoiceOptions | None: ...
    @property
    def security(self) -> SecurityOptions: ...
    @property
    def warnings(self) -> WarningOptions | None: ...
    @property
    def board(self) -> BoardOptions | None: ...


class BoardOptions(Protocol):
    @property
    def public_url(self) -> str: ...
    @property
    def link_valid(self) -> timedelta: ...
