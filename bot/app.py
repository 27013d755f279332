"""Lifecycle: the one place that wires the parts together and starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from bot.board.server import BoardServer
from bot.board.sessions import Limits
from bot.config import (
    SMS_PASSWORD_ENV,
    SMS_SECRET_ENV,
    VOICE_PASSWORD_ENV,
    ConfigError,
    Contacts,
    Reloaded,
    Settings,
    changes,
    load_contacts,
    load_settings,
    reload_errors,
    with_formed,
    with_sms_holders,
)
from bot.domain.clock import Clock, SystemClock
from bot.domain.directory import Directory
from bot.domain.model import Forum
from bot.domain.warnings import WarningItem
from bot.feeds import ical, smhi
from bot.feeds.poller import Feed, Poller
from bot.flows import board as board_flow
from bot.flows import forums as forums_flow
from bot.flows import identity as identity_flow
from bot.flows import sms as sms_flow
from bot.flows import voice as voice_flow
from bot.flows import warnings as warnings_flow
from bot.flows.context import Context
from bot.flows.convocation import undelivered
from bot.matrix.client import MatrixAdapter
from bot.matrix.outbox import OutboxSender
from bot.matrix.sync import Handlers
from bot.messages import Outgoing, SmsIn
from bot.ops import metrics
from bot.runtime.dispatch import Dispatcher
from bot.runtime.lease import Lease, LeaseLost
from bot.runtime.rotas import Rotas
from bot.runtime.scheduler import MeetingScheduler
from bot.runtime.timers import Timers
from bot.sms.endpoint import SmsEndpoint
from bot.sms.sender import SmsSender
from bot.state import board as board_store
from bot.state import feeds as feeds_store
from bot.state import formed
from bot.state import sms as sms_store
from bot.state.db import Database
from bot.state.models import OutboxMessage, VoiceCall
from bot.texts import t
from bot.voice.caller import VoiceCaller
from bot.voice.speech import Speech
from bot.voice.useragent import UserAgent

log = logging.getLogger(__name__)

SCHEDULE_MAX_BYTES = 5_000_000  # a year of shifts is a few hundred kilobytes
TIMED = frozenset({"summons", "log_entry", "convocation"})  # what the timers wait on: escalations, actions, conferences
VOICE = frozenset({"call", "summons", "forum_state", "convocation"})  # what may start or end a call
STOP_GRACE = 2.0  # seconds the loops get to end by themselves before they are cancelled


class BoardData:
    """What the board asks of the bot, answered through the flows, the database and the Matrix adapter."""

    def __init__(self, app: App) -> None:
        self.app = app

    def room_now(self, room_id: str) -> str:
        return self.app.matrix.rooms.aliases.get(room_id, room_id)

    def forum_of_room(self, room_id: str) -> str | None:
        aliases = self.app.matrix.rooms.aliases
        return next((f.id for f in self.app.settings.forums if room_id in (f.room, aliases.get(f.room))), None)

    async def is_member(self, user_id: str, room_id: str) -> bool:
        return await self.app.matrix.rooms.is_joined(room_id, user_id)

    async def link(self, secret: str) -> tuple[int, str, datetime] | None:
        async with self.app.db.session() as session:
            found = await board_store.valid(session, secret, self.app.clock.now())
        return (found.id or 0, found.forum_id, found.expires_at) if found else None

    async def link_valid(self, link_id: int) -> bool:
        async with self.app.db.session() as session:
            found = await board_store.get(session, link_id)
        return board_store.in_force(found, self.app.clock.now())

    async def snapshot(self, forum_id: str) -> dict[str, Any]:
        forum = self.app.directory.forum(forum_id)
        rooms = self.app.matrix.rooms
        room_id = rooms.aliases.get(forum.room, forum.room)
        return await self.app.dispatch.read(partial(board_flow.snapshot, forum=forum,
                                                    name_of=partial(rooms.display_name, room_id)))


class App:
    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 env: Mapping[str, str] | None = None, config_path: Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.db = Database(settings.database.url)
        self.directory = Directory.build(settings)
        env = os.environ if env is None else env
        self.matrix = MatrixAdapter(settings, self.db, env)
        self.vault = self.matrix.session.vault
        self.outbox = OutboxSender(self.db, self.matrix, self.clock)
        self.outbox.count_sent, self.outbox.show_backlog = metrics.MESSAGES_SENT.inc, metrics.OUTBOX_BACKLOG.set
        self.dispatch = Dispatcher(self.db, self.directory, self.clock, on_enqueued=self._enqueued,
                                   rooms=self.matrix.rooms.aliases, reload=self.reload,
                                   bot_user=settings.matrix.user_id, forums_changed=self._merge_formed,
                                   vault=self.vault)
        self.sms: SmsSender | None = None
        self.sms_endpoint: SmsEndpoint | None = None
        self.contacts = Contacts({}, {})
        if settings.sms is not None:
            self.contacts = self._read_contacts(settings)
            missing = [name for name in (SMS_PASSWORD_ENV, SMS_SECRET_ENV) if not env.get(name)]
            if missing:
                raise ConfigError([f"sms: set {' and '.join(missing)} in the environment (never in the file)"])
            self.sms = SmsSender(self.db, settings.sms, env[SMS_PASSWORD_ENV], env[SMS_SECRET_ENV], self.vault,
                                 self.clock)
            self.sms.accepted = metrics.SMS_ACCEPTED.inc
            self.sms_endpoint = SmsEndpoint(self.vault, self.clock, env[SMS_SECRET_ENV], settings.sms.listen,
                                            self._sms_in, self.sms.record)
        self.voice: VoiceCaller | None = None
        if settings.voice is not None:
            self.voice = self._voice(settings, env)
        self.rotas = Rotas(self.db, self.dispatch, self.clock, lambda: (self.settings, self.directory))
        self.feeds = Poller(self.db, self.clock, self._feeds(settings))
        self.feeds.each_pass = self.rotas.hourly
        self.board: BoardServer | None = None
        if settings.board is not None:
            server_name = settings.matrix.user_id.split(":", 1)[1]
            board = settings.board
            self.board = BoardServer(board.listen, BoardData(self), {server_name: settings.matrix.homeserver},
                                     partial(t, settings.bot.language), self.clock.now,
                                     Limits(board.sessions_per_link, board.sessions_per_user,
                                            board.streams_per_session, board.checks_per_minute),
                                     board.element_origins, board.trusted_proxies)
        self.timers = Timers(self.db, self.dispatch, self.clock)
        self.lease = Lease(self.db)
        self.clock.watch(self._clock_moved)
        self.meetings = MeetingScheduler(self.db, self.dispatch, self.directory, self.clock)
        self.outbox.on_give_up = self._undelivered
        self.matrix.listen(Handlers(message=self.dispatch.handle, reaction=self.dispatch.handle_reaction,
                                    undecryptable=self.dispatch.handle_undecryptable,
                                    answered=self.outbox.answered, room_moved=self._room_moved,
                                    removed=self._removed, member_left=self._member_left,
                                    direct_shared=self._direct_shared))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Migrate, log in, join rooms, then start delivering and syncing."""
        await self.db.migrate()
        await self.lease.hold()
        await self._merge_formed()
        await self.matrix.start()
        self._tasks = [
            asyncio.create_task(self.lease.keep(), name="lease"),
            asyncio.create_task(self.outbox.run(), name="outbox"),
            asyncio.create_task(self.matrix.sync.sync_forever(), name="sync"),
            asyncio.create_task(self.timers.run(), name="timers"),
            asyncio.create_task(self.meetings.run(), name="meetings"),
            asyncio.create_task(self._open_direct_rooms(), name="direct-rooms"),
        ]
        await self.meetings.start()
        if self.sms is not None and self.sms_endpoint is not None:
            await self._import_contacts()
            await self.sms_endpoint.start()
            self._tasks.append(asyncio.create_task(self.sms.run(), name="sms"))
        if self.voice is not None:
            self._tasks.append(asyncio.create_task(self.voice.run(), name="voice"))
        if self.board is not None:
            await self.board.start()
        await self.feeds.replay_stored()
        await self.rotas.imports()
        self._tasks.append(asyncio.create_task(self.feeds.run(), name="feeds"))
        if self.settings.metrics.listen:
            metrics.serve(self.settings.metrics.listen, self._sync_lag)
        log.info("started: %s", self.settings.summary())

    def _voice(self, settings: Settings, env: Mapping[str, str]) -> VoiceCaller:
        """The voice channel: baresip in a folder beside the database, driven by the caller."""
        voice = settings.voice
        assert voice is not None
        folder = Path(voice.folder) if voice.folder else settings.crypto_store().parent / "voice"
        agent = UserAgent(folder / "baresip", voice.account, voice.listen, voice.control, program=voice.baresip,
                          password=env.get(VOICE_PASSWORD_ENV), register=voice.registrar)
        caller = VoiceCaller(self.db, voice, agent, Speech(folder / "speech", voice.espeak,
                                                           "sv" if settings.bot.language == "sv" else "en"),
                             self.vault, self.clock, self._call_ended, self._scripts, self._call_unreached)
        caller.dialled = metrics.CALLS_DIALLED.inc
        return caller

    async def _call_ended(self, call_id: int, state: str, digit: str | None, why: str | None) -> str | None:
        """How a call ended (or the key pressed), handled once as internal work; returns where to transfer it."""
        answer = voice_flow.Answer()
        await self.dispatch.run_internal(f"call:{call_id}:{state}", partial(
            voice_flow.ended, call_id=call_id, state=state, digit=digit, error=why, answer=answer))
        return answer.transfer_to

    async def _call_unreached(self, row: VoiceCall) -> None:
        """The trunk took none of a person's calls for as long as the ladder gives them: once per person and
        convocation, the deputy is convened."""
        await self.dispatch.run_internal(f"unreached:{row.convocation_id}:{row.user_id}",
                                         partial(voice_flow.unreached, call_id=row.id or 0))

    async def _scripts(self, convocation_ids: Sequence[int]) -> dict[int, str]:
        return await self.dispatch.read(partial(voice_flow.scripts, convocation_ids=convocation_ids))

    def _feeds(self, settings: Settings) -> list[Feed]:
        """What the bot polls: SMHI's warnings when `[warnings]` is set, and each function's duty schedule."""
        found = [Feed(feeds_store.schedule(f.id), f.schedule, f.schedule_every, ical.read,
                      partial(self.rotas.changed, f.id), SCHEDULE_MAX_BYTES, replay=True)
                 for f in settings.functions if f.schedule]
        warnings = settings.warnings
        if warnings is not None:
            found.append(Feed(feeds_store.WARNINGS, warnings.url, warnings.every, smhi.parse, self._warnings,
                              warnings.max_bytes))
        return found

    async def _warnings(self, items: list[WarningItem]) -> None:
        """SMHI's list, changed: proposals, edits and notices, as one piece of internal work."""
        await self.dispatch.run_internal(f"warnings:{self.clock.now().isoformat()}",
                                         partial(warnings_flow.observe, items=items))

    @staticmethod
    def _read_contacts(settings: Settings) -> Contacts:
        """The contacts file, its mistakes logged by place (never by number)."""
        sms = settings.sms
        if sms is None or sms.contacts is None:
            return Contacts({}, {})
        contacts = load_contacts(sms.contacts, sms.country, (f.id for f in settings.functions))
        for error in contacts.errors:
            log.error("%s", error)
        return contacts

    async def _import_contacts(self) -> None:
        """The contacts file's numbers, sealed into the database (the file is the operator's; the bot keeps
        no number in the clear)."""
        found = self.contacts.numbers
        sealed = {user: (self.vault.seal(number), self.vault.lookup(number)) for user, number in found.items()}
        now = self.clock.now()
        await self.db.write(lambda session: sms_store.sync_contacts(session, sealed, now))
        log.info("sms: %d numbers from the contacts file, %d holders without Matrix", len(sealed),
                 sum(len(h) for h in self.contacts.sms_holders.values()))

    async def _room_moved(self, old: str, new: str, by: str) -> None:
        """A configured room was upgraded: follow it, and move the forum's state there."""
        joined = await self.matrix.rooms.follow_upgrade(old, new)
        if self.board is not None:
            self.board.room_moved(old, new)
        log.info("room %s was upgraded to %s by %s; %s", old, new, by, "joined" if joined else "cannot join it")
        await self.dispatch.run_internal(f"room-moved:{old}:{new}",
                                         partial(forums_flow.room_moved, old=old, new=new, joined=joined))

    async def _removed(self, room_id: str, by: str, membership: str) -> None:
        """Kicked or banned from a configured room: health and the log room say so at once."""
        log.error("the bot was %s from %s by %s", "banned" if membership == "ban" else "removed", room_id, by)
        if self.board is not None:
            self.board.room_lost(room_id)
        await self.matrix.rooms.note_removed(room_id, by, membership)
        await self.dispatch.run_internal(f"removed:{room_id}:{self.clock.now().isoformat()}",
                                         partial(forums_flow.removed, room_id=room_id, by=by, membership=membership))

    async def _direct_shared(self, person: str, room_id: str, other: str, by: str) -> None:
        """Someone else was let into a person's direct room, which the bot has left: the log room is told once."""
        await self.dispatch.run_internal(f"direct-shared:{room_id}", partial(
            identity_flow.direct_shared, person=person, room_id=room_id, other=other, by=by))

    async def _member_left(self, room_id: str, user_id: str, membership: str) -> None:
        """Someone left a room, was kicked or banned: what their membership let them see ends, and the links to
        the board they made there are revoked."""
        if self.board is not None:
            self.board.member_left(room_id, user_id, membership)
            await self.dispatch.run_internal(f"board-member-left:{room_id}:{user_id}:{self.clock.now().isoformat()}",
                                             partial(board_flow.creator_left, room_id=room_id, user_id=user_id,
                                                     membership=membership))

    async def _sms_in(self, incoming: SmsIn) -> None:
        """A reply to the bot's number: handled once, as internal work that may acknowledge."""
        await self.dispatch.run_internal(f"sms-in:{incoming.gateway_id}", partial(sms_flow.reply, incoming=incoming))

    def _sync_lag(self) -> float:
        last = self.matrix.sync.last_sync
        return float("inf") if last is None else time.monotonic() - last

    async def _open_direct_rooms(self) -> None:
        """Everyone the configuration lists, so convocations never wait for room creation."""
        if not self.settings.matrix.open_direct_rooms:
            return
        people = list(dict.fromkeys(user for f in self.settings.functions for user in f.holders))
        try:
            await self.matrix.rooms.open_direct_rooms(people)
        except Exception:
            log.exception("opening direct rooms failed; they will be opened when first needed")

    async def reload(self) -> Reloaded:
        """Read the configuration file again. With any error, the running configuration stays whole."""
        if self.config_path is None:
            return Reloaded(errors=("the bot was started without a configuration file",))
        try:
            new = load_settings(self.config_path)
        except ConfigError as exc:
            return Reloaded(errors=tuple(exc.errors))
        living, dissolved = await self._formed_forums()
        refused = reload_errors(self.settings, new) + with_formed(new, living)[1]
        if refused:
            return Reloaded(errors=tuple(refused))
        changed = tuple(changes(self.settings, new))
        self._use(new, living, dissolved)
        self._tasks.append(asyncio.create_task(self._join_and_open(), name="reload-rooms"))
        log.info("configuration reloaded: %s; %s", new.summary(), "; ".join(changed) or "no changes")
        return Reloaded(changes=changed, summary=new.summary())

    async def _formed_forums(self) -> tuple[list[Forum], list[Forum]]:
        """The forums formed for an event: those living, and those dissolved."""
        async with self.db.session() as session:
            rows = await formed.everything(session)
        return ([formed.as_forum(r) for r in rows if r.dissolved_at is None],
                [formed.as_forum(r) for r in rows if r.dissolved_at is not None])

    def _use(self, settings: Settings, living: list[Forum], dissolved: list[Forum]) -> list[str]:
        """Run with this configuration and the forums formed for an event; returns those that no longer fit."""
        effective, left_out = with_formed(with_sms_holders(settings, self.contacts.sms_holders), living)
        self.settings, self.directory = settings, Directory.build(effective, dissolved)
        self.dispatch.directory = self.meetings.directory = self.directory
        self.matrix.reconfigure(effective, formed_rooms=[f.room for f in effective.forums if f in living])
        self.meetings.notify()
        return left_out

    async def _merge_formed(self) -> None:
        """Run with the forums formed for an event as they are now: at start, and before the next event once one
        is formed or dissolved (its room is created when the first message goes there)."""
        for error in self._use(self.settings, *await self._formed_forums()):
            log.error("%s", error)

    async def _join_and_open(self) -> None:
        """After a reload: rooms and people the new configuration names."""
        try:
            await self.matrix.rooms.join_configured_rooms()
        except Exception:
            log.exception("joining the configured rooms after a reload failed")
        await self._open_direct_rooms()

    async def _reload_on_signal(self) -> None:
        result = await self.reload()
        if result.errors:
            log.error("SIGHUP: the configuration was not reloaded; the running one stays:\n  %s",
                      "\n  ".join(result.errors))

    def _clock_moved(self) -> None:
        """A clock that jumped (tests, the demo): what waits for a time looks again."""
        self.timers.notify()
        self.feeds.notify()
        self.meetings.clock_moved()
        if self.board is not None:
            self.board.clock_moved()
        if self.voice is not None:
            self.voice.notify()

    def _enqueued(self, tables: frozenset[str], rows: list[OutboxMessage]) -> None:
        """After a command or a step has committed: wake what its changes concern, and only that. Commands
        only add to the outbox, so the rows they added are handed to it as they are."""
        if "sms" in tables and self.sms is not None:
            self.sms.notify()
        if tables & VOICE and self.voice is not None:  # a call to dial, or one to hang up
            self.voice.notify()
        if self.board is not None:
            self.board.changed()
        if rows:
            self.outbox.hand(rows)
        elif "outbox" in tables:
            self.outbox.notify()
        if tables & TIMED:
            self.timers.notify()
        if "meeting_change" in tables:  # a move or cancellation changes the plan
            self.meetings.notify()

    async def _undelivered(self, row: OutboxMessage, reason: str) -> None:
        """A convocation's direct message was given up on: the convocation records it and tells the chair."""
        kind, _, value = (row.ref or "").partition(":")
        if kind != "conv" or not row.target.startswith("user:"):
            return
        user = row.target.removeprefix("user:")

        async def run(ctx: Context) -> list[Outgoing]:
            return await undelivered(ctx, int(value), user, reason)

        await self.dispatch.run_internal(f"undelivered:{row.txn_id}", run)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the first sync has completed."""
        await asyncio.wait_for(self.matrix.sync.synced.wait(), timeout)

    async def stop(self, flush_timeout: float = 10.0) -> None:
        """Stop syncing, let the outbox finish what is in flight, then close."""
        self.meetings.stop()
        self.matrix.stop()
        for task in self._tasks:
            if task.get_name() == "sync":
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush(), flush_timeout)
        self.outbox.stopped = self.timers.stopped = self.lease.stopped = self.feeds.stopped = True
        self.feeds.notify()
        if self.sms is not None and self.sms_endpoint is not None:
            self.sms.stopped = True
            self.sms.notify()
            await self.sms_endpoint.stop()
        if self.voice is not None:
            await self.voice.stop()
        if self.board is not None:
            await self.board.stop()
        self.outbox.notify()
        self.timers.notify()
        if self._tasks:  # sends and steps in flight finish; only what still waits is cancelled
            await asyncio.wait(self._tasks, timeout=STOP_GRACE)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=flush_timeout)
            for task in stuck:
                log.error("task %s did not stop: %s", task.get_name(), task.get_stack(limit=5))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.dispatch.drain(), flush_timeout)
        with contextlib.suppress(Exception):  # the database may be gone: the next start then catches up
            await self.matrix.sync.remember()
        await self.matrix.close()
        if not self.lease.lost.is_set():
            with contextlib.suppress(Exception):  # a database that is gone cannot be released; the TTL frees it
                await self.lease.release()
        await self.db.close()
        log.info("stopped")

    async def _flush(self) -> None:
        self.outbox.notify()
        await asyncio.sleep(0)
        await self.outbox.idle.wait()

    async def run(self) -> None:
        """Run until SIGTERM or SIGINT."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._tasks.append(
            asyncio.create_task(self._reload_on_signal(), name="reload")))
        await self.start()
        stopping = asyncio.create_task(stop.wait())
        lost = asyncio.create_task(self.lease.lost.wait())
        await asyncio.wait([stopping, lost], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        lost.cancel()
        log.info("stopping")
        await self.stop(flush_timeout=self.settings.bot.stop_timeout)
        if self.lease.lost.is_set():
            raise LeaseLost("another instance has taken over")
