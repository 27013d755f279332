"""TOML configuration -> typed, validated settings.

Loading never stops at the first mistake: `load_settings` raises `ConfigError` with every
error and its place (`forum[2].activated[3]: unknown function 'sos-vb'; did you mean
'sos-vakthavande'?`). Secrets never live in the file; they come from the environment.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from bot.domain.model import (
    Duration,
    Forum,
    Function,
    Organisation,
    Person,
    RoomRef,
    Strict,
    UserId,
    is_user_id,
)
from bot.domain.names import Index, normalise
from bot.domain.sms import BadNumber, normalise_number
from bot.domain.warnings import Level, WarningRule
from bot.messages import SMS_ONLY

SECRET_ENV = ("SAMVERKAN_PASSWORD", "SAMVERKAN_ACCESS_TOKEN")
SMS_PASSWORD_ENV = "SAMVERKAN_SMS_PASSWORD"  # the gateway's sendsms password
SMS_SECRET_ENV = "SAMVERKAN_SMS_SECRET"  # what the gateway's calls to the bot must carry
VOICE_PASSWORD_ENV = "SAMVERKAN_SIP_PASSWORD"  # the SIP account's password at the trunk or PBX
LEVELS = ("inriktande", "samordnande", "verkställande")
class BotSettings(Strict):
    language: Literal["sv", "en"] = "sv"
    timezone: str = "Europe/Stockholm"
    log_room: RoomRef | None = None
    admins: tuple[UserId, ...] = ()
    command_prefix: str = "!"
    # A second !kalla of a forum this soon after the last convocation asks for `igen` and rings nobody.
    reconvene_within: Duration = timedelta(minutes=10)
    # The regional duty function (RSIB) told of gaps in the duty schedules, beside the organisation's home room.
    rota_gaps_to: str | None = None
    # More commands than this in a minute from one sender: one warning, then a minute without answers.
    commands_per_minute: int = Field(default=20, ge=1)
    # On SIGTERM, seconds to keep delivering queued messages; below a container engine's grace period.
    stop_timeout: float = Field(default=5.0, ge=0, le=300)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (example: Europe/Stockholm)") from None
        return value


class MatrixSettings(Strict):
    homeserver: str
    user_id: UserId
    device_name: str = "Samverkan bot"
    # Give up a single HTTP request after this long; the loops above retry.
    request_timeout: float = 60.0
    # Open a direct room with every listed holder at start, so a convocation never waits for one.
    open_direct_rooms: bool = True
    # End-to-end encryption: None means on when matrix-nio's e2e extra is installed (it is by default).
    encryption: bool | None = None
    # Where the encryption keys live; by default a `crypto` folder beside the SQLite database.
    store_path: str | None = None
    # Set up cross-signing for the bot's account and sign its device, so Element trusts it.
    cross_signing: bool = True
    # Room keys go only to devices their owners have cross-signed, as Element does; "all" for a
    # homeserver whose users have no cross-signing.
    share_keys_with: Literal["cross-signed", "all"] = "cross-signed"

    @field_validator("homeserver")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("homeserver must be an http:// or https:// address")
        return value.rstrip("/")


def _host_port(value: str) -> str:
    if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}", value):
        raise ValueError("listen must be host:port, e.g. 127.0.0.1:9464")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]


class MetricsSettings(Strict):
    """Prometheus metrics on `listen` (`127.0.0.1:9464`); off when unset."""

    listen: HostPort | None = None


class SmsSettings(Strict):
    """The second channel, through a Kannel gateway: out by smsbox's sendsms, replies and delivery reports
    in on `listen`. The password and the shared secret come from the environment."""

    gateway: str  # smsbox's sendsms address, e.g. http://127.0.0.1:13013/cgi-bin/sendsms
    user: str  # the sendsms-user's username; its password in SAMVERKAN_SMS_PASSWORD
    sender: str  # a real number (E.164): an alphanumeric sender cannot be replied to
    listen: HostPort = "127.0.0.1:13080"  # where Kannel delivers replies and delivery reports
    callback_url: str | None = None  # the address Kannel reaches `listen` by, if not http://<listen>
    sms_after: Duration = timedelta(minutes=2)  # unacknowledged this long while activated: one SMS
    max_per_event: int = Field(default=200, ge=1)  # the cost cap: SMS per event (activation)
    contacts: str | None = None  # a TOML file of [[contact]] user = "@…", number = "+46…"
    country: str = "46"  # the country a number written with a leading 0 is in

    @field_validator("gateway", "callback_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value

    @field_validator("sender")
    @classmethod
    def _number(cls, value: str) -> str:
        if not re.fullmatch(r"\+[1-9]\d{7,14}", value):
            raise ValueError(f"the sender must be a number in E.164 (for example +46701740600), not {value!r}: "
                             "an alphanumeric sender cannot be replied to")
        return value


    @property
    def base_url(self) -> str:
        return (self.callback_url or f"http://{self.listen}").rstrip("/")


class VoiceSettings(Strict):
    """The voice channel: a SIP user agent (Debian's baresip) the bot starts and drives, registered at the
    organisation's trunk or PBX as `account`. Numbers come from the same sealed contacts as SMS. The password,
    if the trunk asks for one, comes from SAMVERKAN_SIP_PASSWORD."""

    # The SIP account: sip:user@pbx.example.org, with baresip's parameters (";transport=tls",
    # ";mediaenc=srtp-mand"). Numbers are dialled as sip:<number>@<the account's host>.
    account: str
    listen: HostPort = "127.0.0.1:5060"  # the user agent's SIP address (UDP and TCP; TCP port+1 is taken too)
    control: HostPort = "127.0.0.1:4444"  # where the bot drives it (ctrl_tcp), on loopback
    call_after: Duration = timedelta(minutes=5)  # unacknowledged this long while activated: a voice call
    max_parallel_calls: int = Field(default=4, ge=1, le=200)  # the trunk's channels
    ring_for: Duration = timedelta(seconds=30)  # a call not answered in this long counts as not answered
    registrar: bool = True  # register at the account's host; false for a trunk that takes calls unregistered
    baresip: str = "baresip"  # the program
    espeak: str = "espeak-ng"
    folder: str | None = None  # baresip's configuration and the spoken messages; beside the database by default

    @field_validator("account")
    @classmethod
    def _sip(cls, value: str) -> str:
        if not re.fullmatch(r"sips?:[^\s@;]+@[^\s;]+(;[^\s;]+)*", value):
            raise ValueError(f"a SIP account such as sip:samverkan@pbx.example.org;transport=tls, not {value!r}")
        return value

    @field_validator("ring_for")
    @classmethod
    def _ring(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=2):
            raise ValueError("between 1s and 2m")
        return value

    @property
    def domain(self) -> str:
        """The host numbers are dialled at: the account's, without its parameters."""
        return self.account.split("@", 1)[1].split(";", 1)[0]


class WarningsSettings(Strict):
    """SMHI's impact-based warnings, polled every `every`: those for the region's counties (Stockholms län is
    1) and sea districts, at or above `level`, propose activating a forum as `[[warnings.propose]]` says."""

    url: str = "https://opendata-download-warnings.smhi.se/ibww/api/version/1/warning.json"
    every: Duration = timedelta(minutes=5)
    counties: tuple[int, ...] = (1,)
    sea_districts: tuple[int, ...] = ()
    level: Level = "ORANGE"
    max_bytes: int = Field(default=20_000_000, ge=10_000)  # a larger answer is refused
    propose: tuple[WarningRule, ...] = ()

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value

    @field_validator("every")
    @classmethod
    def _polite(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("SMHI asks not to be polled more often than needed: at least 1m")
        return value


class BoardSettings(Strict):
    """The crisis room's live board: served on `listen` behind a reverse proxy at `public_url`; a link for a wall
    screen is valid `link_valid` unless another time is asked for (at most 7 days)."""

    listen: HostPort = "127.0.0.1:8088"
    public_url: str
    link_valid: Duration = timedelta(hours=12)
    # Element's addresses allowed to frame the board (`frame-ancestors`); empty: any
    element_origins: list[str] = Field(default_factory=list)
    sessions_per_link: int = Field(default=10, ge=1)  # wall screens on one link
    sessions_per_user: int = Field(default=5, ge=1)  # a member's boards (the oldest without a stream gives way)
    streams_per_session: int = Field(default=2, ge=1)
    checks_per_minute: int = Field(default=60, ge=1)  # OpenID tokens, and apart links, checked per client address
    # The reverse proxies whose X-Forwarded-For is believed (addresses or networks); empty: the peer is the client
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an address or a network such as 10.0.0.0/8") from None
        return value

    @field_validator("element_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin such as https://app.element.io")
        return value

    @field_validator("public_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address (where people's browsers reach the board)")
        return value.rstrip("/")

    @field_validator("link_valid")
    @classmethod
    def _week(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= value <= MAX_LINK:
            raise ValueError("between 5m and 7d")
        return value


MAX_LINK = timedelta(days=7)


class SecuritySettings(Strict):
    """Who may give commands that change state or ring phones: in encrypted rooms, only from a device its
    owner has cross-signed (as Element shares keys only with those), or from any device. By default as
    `[matrix] share_keys_with`: a homeserver whose users have no cross-signing takes commands from any."""

    commands_from: Literal["cross-signed", "any"] = "cross-signed"


class DatabaseSettings(Strict):
    """SQLite by default; PostgreSQL as `postgresql+asyncpg://user@host/db` (password from PGPASSWORD)."""

    url: str = "sqlite+aiosqlite:///data/samverkan.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if re.match(r"^postgresql\+asyncpg://[^/@]*:[^/@]*@", value):
            raise ValueError("no password in the file: set PGPASSWORD in the environment instead")
        return value


class Settings(Strict):
    bot: BotSettings = BotSettings()
    matrix: MatrixSettings
    database: DatabaseSettings = DatabaseSettings()
    metrics: MetricsSettings = MetricsSettings()
    sms: SmsSettings | None = None
    voice: VoiceSettings | None = None
    warnings: WarningsSettings | None = None
    board: BoardSettings | None = None
    security: SecuritySettings = SecuritySettings()
    people: tuple[Person, ...] = Field(default=(), alias="person")
    organisations: tuple[Organisation, ...] = Field(default=(), alias="organisation")
    functions: tuple[Function, ...] = Field(default=(), alias="function")
    forums: tuple[Forum, ...] = Field(default=(), alias="forum")

    @model_validator(mode="before")
    @classmethod
    def _commands_from_follows_key_sharing(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        matrix, security = data.get("matrix"), data.get("security", {})
        if isinstance(matrix, Mapping) and isinstance(security, Mapping) and "commands_from" not in security \
                and matrix.get("share_keys_with") == "all":
            return {**data, "security": {**security, "commands_from": "any"}}
        return data

    def crypto_store(self) -> Path:
        """The folder of the bot's encryption keys: one device for the bot's life lives here."""
        if self.matrix.store_path:
            return Path(self.matrix.store_path)
        url = self.database.url
        if url.startswith("sqlite") and ":///" in url and ":memory:" not in url:
            return Path(url.split(":///", 1)[1]).parent / "crypto"
        return Path("data") / "crypto"

    def summary(self) -> str:
        meetings = sum(len(f.meetings) for f in self.forums)
        return (
            f"{len(self.organisations)} organisations, {len(self.functions)} functions, "
            f"{len(self.forums)} forums, {meetings} meetings"
        )


class ConfigError(Exception):
    """Every problem found in a configuration, each with its place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _place(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _pydantic_errors(exc: ValidationError) -> list[str]:
    errors = []
    for err in exc.errors():
        place = _place(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            if key in ("password", "access_token", "token", "secret"):
                where = (f"{SMS_PASSWORD_ENV} and {SMS_SECRET_ENV}" if place.startswith("sms")
                         else VOICE_PASSWORD_ENV if place.startswith("voice") else " or ".join(SECRET_ENV))
                errors.append(f"{place}: secrets do not belong in the file; set {where}")
            else:
                errors.append(f"{place}: unknown setting '{key}'")
        elif err["type"] == "missing":
            errors.append(f"{place}: required setting is missing")
        else:
            message = err["msg"].removeprefix("Value error, ")
            errors.append(f"{place}: {message}")
    return errors


def _suggest(index: Index[Any], name: str) -> str:
    close = index.suggest(name)
    return f"; did you mean '{close[0]}'?" if close else ""


def _cross_references(settings: Settings) -> list[str]:
    errors: list[str] = []
    orgs: Index[Organisation] = Index("organisation")
    funcs: Index[Function] = Index("function")

    def unique(kind: str, items: Iterable[Any]) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                errors.append(f"{kind}[{i}].id: '{item.id}' is used twice")
            seen.add(item.id)

    unique("organisation", settings.organisations)
    unique("function", settings.functions)
    unique("forum", settings.forums)
    for org in settings.organisations:
        orgs.add(org, [org.id])
    for func in settings.functions:
        funcs.add(func, [func.id])

    org_ids = {org.id for org in settings.organisations}
    func_ids = {func.id for func in settings.functions}

    def known_function(place: str, name: str) -> None:
        if name not in func_ids:
            errors.append(f"{place}: unknown function '{name}'{_suggest(funcs, name)}")

    for i, func in enumerate(settings.functions):
        if func.organisation not in org_ids:
            errors.append(
                f"function[{i}].organisation: unknown organisation '{func.organisation}'"
                f"{_suggest(orgs, func.organisation)}"
            )
        for j, deputy in enumerate(func.deputies):
            known_function(f"function[{i}].deputies[{j}]", deputy)
            if deputy == func.id:
                errors.append(f"function[{i}].deputies[{j}]: a function cannot be its own deputy")
        if func.rotation is not None and not func.holders:
            errors.append(f"function[{i}].rotation: a rotation needs holders")
    for i, forum in enumerate(settings.forums):
        known_function(f"forum[{i}].chair", forum.chair)
        for part in ("ordinary", "activated"):
            for j, name in enumerate(getattr(forum, part)):
                known_function(f"forum[{i}].{part}[{j}]", name)
        if not forum.ordinary and not forum.activated:
            errors.append(f"forum[{i}]: neither an ordinary nor an activated composition")
    if settings.bot.rota_gaps_to is not None:
        known_function("bot.rota_gaps_to", settings.bot.rota_gaps_to)
    forum_ids = {forum.id for forum in settings.forums}
    if settings.voice is not None and settings.sms is None:
        errors.append("voice: the numbers to call come from [sms] contacts and !sms; set [sms] as well")
    for i, rule in enumerate(settings.warnings.propose if settings.warnings else ()):
        if rule.forum not in forum_ids:
            errors.append(f"warnings.propose[{i}].forum: unknown forum '{rule.forum}'")

    # Every id and alias must name one thing only, across all kinds, so that a command
    # argument is never ambiguous.
    owners: dict[str, str] = {}
    kinds: tuple[tuple[str, tuple[Any, ...]], ...] = (
        ("organisation", settings.organisations), ("function", settings.functions), ("forum", settings.forums))
    for kind, items in kinds:
        for i, item in enumerate(items):
            for name in (item.id, *item.aliases):
                key = normalise(name)
                owner = f"{kind} '{item.id}'"
                if key in owners and owners[key] != owner:
                    errors.append(f"{kind}[{i}]: the name '{name}' is already used by {owners[key]}")
                owners.setdefault(key, owner)
    if not any(f.may_convene for f in settings.functions) and settings.forums:
        errors.append("function: no function has may_convene = true, so no forum can be activated")
    return errors


def warnings(settings: Settings) -> list[str]:
    """What is allowed but most likely a mistake: each with its place, as errors are."""
    found: list[str] = []
    organisation = {f.id: f.organisation for f in settings.functions}
    for i, func in enumerate(settings.functions):
        for j, deputy in enumerate(func.deputies):
            if organisation.get(deputy, func.organisation) != func.organisation:
                found.append(f"function[{i}].deputies[{j}]: '{deputy}' belongs to another organisation "
                             f"('{organisation[deputy]}', not '{func.organisation}') and has no mandate for it")
    for i, forum in enumerate(settings.forums):
        for part in ("ordinary", "activated"):
            names = getattr(forum, part)
            for j, name in enumerate(names):
                if name in names[:j]:
                    found.append(f"forum[{i}].{part}[{j}]: '{name}' is listed twice")
    return found


def parse_settings(data: Mapping[str, Any]) -> Settings:
    """Validate a plain mapping (as read from TOML); raise ConfigError with every error."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_errors(exc)) from None
    errors = _cross_references(settings)
    if errors:
        raise ConfigError(errors)
    return settings


def with_formed(settings: Settings, formed: Iterable[Forum]) -> tuple[Settings, list[str]]:
    """The configuration with the forums formed for an event added, as the running bot sees it. A formed
    forum that no longer fits (a function it names was removed, or the file now uses its name) is left
    out, with the reason."""
    merged, left_out = settings, []
    for forum in formed:
        candidate = merged.model_copy(update={"forums": (*merged.forums, forum)})
        errors = [e for e in _cross_references(candidate) if e not in _cross_references(merged)]
        if errors:
            left_out.append(f"forum '{forum.id}' (formed for an event) is left out: {'; '.join(errors)}")
        else:
            merged = candidate
    return merged, left_out


@dataclass(frozen=True)
class Contacts:
    """The contacts file: numbers by holder, and the holders without a Matrix account ("sms:Name") by function."""

    numbers: dict[str, str]
    sms_holders: dict[str, tuple[str, ...]]
    errors: tuple[str, ...] = ()


def load_contacts(path: str | Path, country: str = "46", functions: Iterable[str] = ()) -> Contacts:
    """`[[contact]] user = "@…", number = "+46…"`, or for someone without a Matrix account `name = "…",
    number = "+46…", functions = ["nacka-tib"]`. An entry with a mistake is left out and named by its place,
    never by its number (personal data)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return Contacts({}, {}, (f"{path}: cannot read the file ({exc.strerror})",))
    except tomllib.TOMLDecodeError as exc:
        return Contacts({}, {}, (f"{path}: not valid TOML: {exc}",))
    known = set(functions)
    numbers: dict[str, str] = {}
    holders: dict[str, list[str]] = {}
    errors: list[str] = []
    for i, entry in enumerate(data.get("contact", [])):
        user, name, held = entry.get("user"), entry.get("name"), entry.get("functions", [])
        if user is None and isinstance(name, str) and name.strip() and isinstance(held, list) and held:
            user = SMS_ONLY + " ".join(name.split())
            unknown = [f for f in held if f not in known]
            if unknown:
                errors.append(f"{path}: contact[{i}].functions: unknown function {', '.join(map(str, unknown))}")
                continue
        elif not isinstance(user, str) or not is_user_id(user):
            errors.append(f"{path}: contact[{i}]: a Matrix user id (user = \"@…\"), or a name and the functions "
                          "held without one")
            continue
        try:
            numbers[user] = normalise_number(str(entry.get("number") or ""), country)
        except BadNumber:
            errors.append(f"{path}: contact[{i}].number: not a mobile number ({user})")
            continue
        if user.startswith(SMS_ONLY):
            for function in held:
                holders.setdefault(function, []).append(user)
    return Contacts(numbers, {f: tuple(h) for f, h in holders.items()}, tuple(errors))


def with_sms_holders(settings: Settings, holders: Mapping[str, tuple[str, ...]]) -> Settings:
    """The configuration with the holders who have no Matrix account added to their functions (after those
    listed, so a rotation takes them in turn)."""
    if not holders:
        return settings
    functions = tuple(f.model_copy(update={"holders": (*f.holders, *holders[f.id])}) if f.id in holders else f
                      for f in settings.functions)
    return settings.model_copy(update={"functions": functions})


def load_settings(path: str | Path) -> Settings:
    """Read and validate a TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_settings(data)


# What a running bot cannot change without a restart: where it logs in and where it keeps its state.
FIXED_AT_START = (("matrix", "homeserver"), ("matrix", "user_id"), ("database", "url"), ("metrics", "listen"))


@dataclass(frozen=True)
class Reloaded:
    """The outcome of reading the configuration again: errors (nothing changed), or the changes made."""

    errors: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    summary: str = ""


def reload_errors(old: Settings, new: Settings) -> list[str]:
    """Why `new` cannot replace the running `old` configuration; empty when it can."""
    return [f"{section}.{name}: changes only with a restart of the bot"
            for section, name in FIXED_AT_START
            if getattr(getattr(old, section), name) != getattr(getattr(new, section), name)] + (
        ["sms: changes only with a restart of the bot"] if old.sms != new.sms else []) + (
        ["voice: changes only with a restart of the bot"] if old.voice != new.voice else []) + (
        ["warnings: changes only with a restart of the bot"] if old.warnings != new.warnings else []) + (
        ["board: changes only with a restart of the bot"] if old.board != new.board else []) + (
        ["function.schedule: a duty schedule feed is added, moved or removed only with a restart of the bot"]
        if _schedules(old) != _schedules(new) else [])


def _schedules(settings: Settings) -> dict[str, tuple[str | None, timedelta]]:
    return {f.id: (f.schedule, f.schedule_every) for f in settings.functions if f.schedule}


def changes(old: Settings, new: Settings) -> list[str]:
    """What a reload changes, in words an admin can check: 'function added: nacka-tib'."""
    found = []
    kinds: tuple[tuple[str, Iterable[Any], Iterable[Any]], ...] = (
        ("organisation", old.organisations, new.organisations), ("function", old.functions, new.functions),
        ("forum", old.forums, new.forums))
    for kind, before_items, after_items in kinds:
        before = {item.id: item for item in before_items}
        after = {item.id: item for item in after_items}
        found += [f"{kind} added: {i}" for i in after if i not in before]
        found += [f"{kind} removed: {i}" for i in before if i not in after]
        found += [f"{kind} changed: {i}" for i in after if i in before and after[i] != before[i]]
    if old.bot != new.bot:
        found.append("[bot] changed")
    if old.matrix != new.matrix:
        found.append("[matrix] changed")
    return found
