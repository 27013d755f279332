"""The sync loop: survives anything with capped backoff, is back within a second of the homeserver,
and turns Matrix events into the plain values the runtime handles (`Incoming`, `Reaction`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from nio import (
    EncryptionError,
    LocalProtocolError,
    MegolmEvent,
    ReactionEvent,
    RoomMemberEvent,
    RoomMessageText,
    RoomUpgradeEvent,
    SyncError,
    SyncResponse,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.matrix.rooms import Rooms
from bot.matrix.session import Session
from bot.messages import Incoming, Reaction, approves
from bot.state import convocations as conv_store
from bot.state import megolm, repo
from bot.state.db import Database

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
KEY_GRACE = 10.0  # seconds an undecryptable message waits for its room key before the sender is asked again
KEY_POLL_MS = 1_000
BACKOFF_START = 1.0
LAST_SYNC = "last_sync_at"  # when a sync last succeeded: what `python -m bot health` checks
NOT_READY = "not_ready"  # why the bot could not start yet (the homeserver does not answer), for `health`
PROBE_EVERY = 1.0  # seconds between checks whether an unreachable homeserver is back
BACKOFF_CAP = 30.0  # seconds; a storm at 03:00 is no time to wait minutes for a reconnect
# Seconds between writes of the sync token: a restart from an older token sees again what it handled,
# and skips it; the window is kept short where others wrote, so a restart's catch-up stays small.
REMEMBER_EVERY = 15.0  # a response with only the bot's own doings
REMEMBER_OTHERS_EVERY = 1.0  # a response with others' events
# The homeserver stamps events by its own clock, which may run behind the bot's (another host, a drifting clock):
# an event counts as history from before the bot's first sync or its join only when clearly older.
CLOCK_SKEW = timedelta(seconds=30)
RECEIPT_AT_MOST_AFTER = 0.5  # seconds a command's read receipt waits for its answer to go out first
# Seconds between read receipts in one room: a receipt marks every event up to it as read, so the
# commands of a busy second share one, and the homeserver is not kept from sending their answers.
RECEIPT_EVERY = 1.0
# Days the identity of each decrypted Megolm message is kept against replays; after that its session is closed.
MEGOLM_KEPT = timedelta(days=30)
PRUNE_EVERY = 24 * 3600.0  # seconds between prunings while the bot runs


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Handlers:
    """What the runtime does with what arrives; a handler may raise, and the batch is then retried
    from the old token."""

    message: Callable[[Incoming], Awaitable[None]]
    reaction: Callable[[Reaction], Awaitable[None]]
    undecryptable: Callable[[Incoming], Awaitable[None]]
    after_sync: Callable[[], None] = lambda: None
    answered: Callable[[], Awaitable[None]] = _nothing  # until the answers due now have gone out
    # A configured room was upgraded (old room id, new room id, who), or the bot was put out of one
    # (room id, who, "leave" | "ban").
    room_moved: Callable[[str, str, str], Awaitable[None]] | None = None
    removed: Callable[[str, str, str], Awaitable[None]] | None = None
    # Someone else left a room the bot is in, was kicked or banned (room id, who, "leave" | "ban").
    member_left: Callable[[str, str, str], Awaitable[None]] | None = None
    # Someone besides the person was let into a person's direct room, which the bot then left
    # (the person, room id, who came in, who let them in).
    direct_shared: Callable[[str, str, str, str], Awaitable[None]] | None = None


class Syncer:
    def __init__(self, session: Session, rooms: Rooms, db: Database, homeserver: str) -> None:
        self.session = session
        self.client = session.client
        self.user_id = session.user_id
        self.rooms = rooms
        self.db = db
        self.homeserver = homeserver
        self.handlers: Handlers | None = None
        self._told_undecryptable: set[tuple[str, str]] = set()  # (sender, session id) asked to re-send
        self._waiting: dict[str, tuple[str, MegolmEvent, float]] = {}  # event id -> (room, event, since)
        self.last_sync: float | None = None  # time.monotonic() of the last successful sync
        self.first_sync_at: datetime | None = None
        self.synced = asyncio.Event()
        self.stopped = False  # ends the loop even if a cancellation is lost
        self._sync_token: str | None = None
        self._reach: dict[str, tuple[bool | None, str | None]] = {}  # user -> (joined, last read event id)
        self._unread: dict[str, str] = {}  # room -> the latest command not yet marked read
        self._receipts: dict[str, asyncio.Task[None]] = {}  # room -> its last task sending read receipts
        self._marked_at: dict[str, float] = {}  # room -> time.monotonic() of its last read receipt
        self._remembered = 0.0  # time.monotonic() when the sync token was last written
        self._remembered_token: str | None = None
        self._pruned = 0.0  # time.monotonic() of the last pruning of the Megolm messages seen

    async def load(self) -> None:
        """Where the last run stopped: the sync token and when the bot first synced."""
        async with self.db.session() as session:
            self._sync_token = await repo.get_value(session, "sync_token")
            first = await repo.get_value(session, "first_sync_at")
        self.first_sync_at = datetime.fromisoformat(first) if first else None
        await self.prune_megolm()

    async def sync_forever(self) -> None:
        """Sync until cancelled; every failure waits with capped exponential backoff."""
        backoff = BACKOFF_START
        while not self.stopped:
            try:
                await self.sync_once()
                backoff = BACKOFF_START
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything
                log.warning("sync failed (%s); retrying within %.0f s", exc or type(exc).__name__, backoff)
                if isinstance(exc, OSError | TimeoutError | aiohttp.ClientError):
                    await self._until_reachable(backoff)  # the homeserver is away: back as soon as it is
                else:
                    await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)

    async def _until_reachable(self, at_most: float) -> None:
        """Wait `at_most` seconds, but stop as soon as the homeserver answers again.

        The backoff spares a struggling homeserver; a cheap probe every second means that after
        an outage the bot is back within a second of the homeserver, not half a minute later.
        """
        deadline = asyncio.get_running_loop().time() + at_most
        url = self.homeserver.rstrip("/") + "/_matrix/client/versions"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_EVERY)) as http:
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(PROBE_EVERY)
                try:
                    async with http.get(url) as answer:
                        if answer.status == 200:
                            return
                except (aiohttp.ClientError, OSError, TimeoutError):
                    continue

    async def sync_once(self) -> None:
        first = self._sync_token is None
        # The first sync of a run returns at once, so the bot is ready without a long poll.
        answer = await self.client.sync(
            # While a message waits for its room key, look again soon rather than long-polling.
            timeout=(KEY_POLL_MS if self._waiting else SYNC_TIMEOUT_MS) if self.synced.is_set() else 0,
            since=self._sync_token,
            sync_filter={"room": {"timeline": {"limit": 1 if first else 100}}},
        )
        if isinstance(answer, SyncError) or not isinstance(answer, SyncResponse):
            raise ConnectionError(f"sync answered {answer}")
        if first:
            # History from before the first sync is never answered.
            self.first_sync_at = datetime.now(UTC)
            async with self.db.session() as session:
                await repo.set_value(session, "first_sync_at", self.first_sync_at.isoformat())
        else:
            await self._dispatch(answer)
        await self.rooms.handle_invites(answer)
        await self._note_reach()
        if self.client.olm is not None:
            await self.session.maintain_keys()
            if time.monotonic() - self._pruned > PRUNE_EVERY:
                await self.prune_megolm()
        self._sync_token = answer.next_batch
        since = time.monotonic() - self._remembered
        if first or since > REMEMBER_EVERY or (since > REMEMBER_OTHERS_EVERY and self._from_others(answer)):
            await self._write_token(answer.next_batch)
        self.last_sync = time.monotonic()
        self.synced.set()
        if self.handlers is not None:
            self.handlers.after_sync()

    async def remember(self) -> None:
        """At stop: write down the token of the last response handled whole, if it is not yet; the next
        start goes on from there."""
        if self._sync_token is not None and self._sync_token != self._remembered_token:
            await self._write_token(self._sync_token)

    async def settle(self) -> None:
        """At stop: the read receipts on their way go out, for at most a second."""
        going = [task for task in self._receipts.values() if not task.done()]
        if going:
            _, late = await asyncio.wait(going, timeout=1.0)
            for task in late:
                task.cancel()

    async def _write_token(self, token: str) -> None:
        """The sync token, and the time of the last sync that health checks read."""

        async def write(session: AsyncSession) -> None:
            await repo.set_values(session, {"sync_token": token, LAST_SYNC: datetime.now(UTC).isoformat()})

        await self.db.write(write)
        self._remembered, self._remembered_token = time.monotonic(), token

    def _from_others(self, answer: SyncResponse) -> bool:
        """Whether the response holds anything but the bot's own echoes and receipts. Only then is the token
        written soon: a restart from an older one sees the bot's own events again, which it ignores, and
        events it handled, which it skips."""
        return bool(answer.rooms.invite or answer.rooms.leave or answer.to_device_events) or any(
            getattr(event, "sender", None) != self.user_id
            for info in answer.rooms.join.values() for event in info.timeline.events)

    async def _note_reach(self) -> None:
        """Who has joined their direct room and how far they have read it, as far as the homeserver has
        told; written when it changes, for `!kallelse`."""
        changed: dict[str, tuple[bool | None, str | None]] = {}
        for user, room_id in self.rooms.direct_rooms.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            joined = False if user in room.invited_users else True if user in room.users else None  # users has both
            receipt = room.read_receipts.get(user)
            known = self._reach.get(user, (None, None))
            seen = (joined if joined is not None else known[0], receipt.event_id if receipt else known[1])
            if seen != known:
                self._reach[user] = changed[user] = seen
        if changed:
            async def write(session: AsyncSession) -> None:
                for user, (joined, read) in changed.items():
                    await conv_store.note_reach(session, user, joined, read)

            await self.db.write(write)

    async def _undecryptable(self, room_id: str, event: MegolmEvent) -> None:
        """A message the bot cannot read yet: its room key may come in the next sync (a phone sends the
        key and the message one after the other), so it waits a little and is tried again."""
        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if event.sender == self.user_id or self._too_old(room_id, sent_at):
            return
        with contextlib.suppress(LocalProtocolError):  # raised when already asked
            await self.client.request_room_key(event)
        self._waiting[event.event_id] = (room_id, event, time.monotonic())

    async def _retry_waiting(self) -> None:
        """Events whose room key has arrived meanwhile are handled now; the rest, after a grace period,
        are logged and the sender asked to send again."""
        for event_id, (room_id, event, since) in list(self._waiting.items()):
            try:
                decrypted = self.client.decrypt_event(event)
            except (EncryptionError, LocalProtocolError):
                decrypted = None
            if decrypted is not None:
                del self._waiting[event_id]
                await self._handle(room_id, decrypted)
            elif time.monotonic() - since > KEY_GRACE:
                del self._waiting[event_id]
                await self._never_decrypted(room_id, event)

    async def _never_decrypted(self, room_id: str, event: MegolmEvent) -> None:
        """Log it, and ask the sender to re-send (once per sender and session, so a busy room is not flooded)."""
        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        log.warning("cannot decrypt %s from %s (device %s) in %s: no key for session %s",
                    event.event_id, event.sender, event.device_id, room_id, event.session_id)
        told = (event.sender, event.session_id)
        if told in self._told_undecryptable or self.handlers is None:
            return
        self._told_undecryptable.add(told)
        room = self.client.rooms.get(room_id)
        await self.handlers.undecryptable(Incoming(
            room_id=room_id, sender=event.sender, event_id=event.event_id, body="", sent_at=sent_at,
            is_direct=bool(room and room.member_count == 2) and room_id not in self.rooms.configured_room_ids,
            device_unsigned=not self.session.device_trusted(event.sender, event.device_id),
            thread_root=thread_of(event.source.get("content"))))

    async def _dispatch(self, answer: SyncResponse) -> None:
        for room_id, left in answer.rooms.leave.items():
            for event in left.timeline.events:
                if isinstance(event, RoomMemberEvent) and event.state_key == self.user_id \
                        and event.membership in ("leave", "ban") and event.sender != self.user_id \
                        and room_id in self.rooms.configured_room_ids and self.handlers and self.handlers.removed:
                    await self.handlers.removed(room_id, event.sender, event.membership)
        for room_id, info in answer.rooms.join.items():
            for event in info.state:  # a gap in the timeline: what changed in it comes as state
                if isinstance(event, RoomMemberEvent) and event.membership in ("leave", "ban") \
                        and event.state_key != self.user_id:
                    await self._member_left(room_id, event)
            if await self._direct_shared(room_id, [*info.state, *info.timeline.events]):
                continue  # left: nothing in it is answered
            for event in info.timeline.events:
                if isinstance(event, RoomMemberEvent) and event.membership in ("leave", "ban") \
                        and event.state_key != self.user_id:
                    await self.rooms.forget_direct(event.state_key, room_id)
                    await self._member_left(room_id, event)
                    continue
                if isinstance(event, RoomUpgradeEvent) and event.replacement_room \
                        and room_id in self.rooms.configured_room_ids and self.handlers and self.handlers.room_moved:
                    await self.handlers.room_moved(room_id, event.replacement_room, event.sender)
                    continue
                if isinstance(event, MegolmEvent):  # still encrypted: nio had no key for it
                    await self._undecryptable(room_id, event)
                    continue
                await self._handle(room_id, event)
        await self._retry_waiting()

    async def _direct_shared(self, room_id: str, events: list[Any]) -> bool:
        """Whether someone besides the person joined or was invited into the person's direct room: then the bot
        leaves it (what it sends there, and its room keys, would reach them), the log room is told once, and
        the next message to the person opens a new room."""
        person = self.rooms.person_of(room_id)
        if person is None:
            return False
        let_in = next((e for e in events if isinstance(e, RoomMemberEvent) and e.membership in ("join", "invite")
                       and e.state_key not in (self.user_id, person)), None)
        others = self.rooms.others_in(room_id)
        if let_in is None and not others:
            return False
        other = let_in.state_key if let_in is not None else others[0]
        by = let_in.sender if let_in is not None else ""
        if await self.rooms.abandon_direct(person, room_id, other) and self.handlers and self.handlers.direct_shared:
            await self.handlers.direct_shared(person, room_id, other, by)
        return True

    async def _member_left(self, room_id: str, event: RoomMemberEvent) -> None:
        if self.handlers is not None and self.handlers.member_left is not None:
            await self.handlers.member_left(room_id, event.state_key, event.membership)

    async def _handle(self, room_id: str, event: Any) -> None:
        if getattr(event, "decrypted", False) and event.sender != self.user_id and await self._replayed(room_id, event):
            return
        room = self.client.rooms.get(room_id)
        if isinstance(event, ReactionEvent):
            reaction = self._reaction(room_id, event)
            if reaction is not None and self.handlers is not None:
                if approves(reaction.key):  # unencrypted from every client: judge the sender's sessions, asked now
                    sessions = await self.session.sessions_of(event.sender)
                    reaction = replace(reaction, all_signed=sessions.all_signed, master_key=sessions.master_key)
                await self.handlers.reaction(reaction)
            return
        incoming = self._incoming(room_id, event, room.member_count if room else 0)
        if incoming is not None and self.handlers is not None:
            unsigned = await self._unsigned(event)
            incoming = replace(incoming, device_unsigned=unsigned, master_key=self.session.master_key(event.sender),
                               plaintext=self.client.olm is not None and not getattr(event, "decrypted", False))
            await self.handlers.message(incoming)
            if incoming.body.startswith(self.rooms.settings.bot.command_prefix):
                self._mark_read(room_id, incoming.event_id, self.handlers.answered)

    async def _replayed(self, room_id: str, event: Any) -> bool:
        """Whether a decrypted event is a copy of a Megolm message already seen under another event id (its
        ciphertext sent again). Its room, Megolm session and message index are kept in the database, so this
        holds across restarts; a replay is logged and audited (`error.replayed`) and goes no further."""
        index = self.session.megolm_index.pop(event.event_id, None)
        session_id = getattr(event, "session_id", None)
        if index is None or not isinstance(session_id, str):
            log.warning("no message index for the decrypted event %s in %s: not taken", event.event_id, room_id)
            return True
        now = datetime.now(UTC)

        async def check(session: AsyncSession) -> str | None:
            first = await megolm.first_event(session, room_id, session_id, index)
            if first is None:
                await megolm.note(session, room_id, session_id, index, event.event_id, now)
            elif first != event.event_id:
                await repo.audit(session, at=now, user_id=event.sender, action="message", allowed=False,
                                 event_id=event.event_id,
                                 detail={"reason": "error.replayed", "first_event": first or None,
                                         "session_id": session_id, "message_index": index})
            return first

        first = await self.db.write(check)
        if first is None or first == event.event_id:  # new, or the same event delivered again
            return False
        log.warning("refused %s from %s in %s: a copy of the encrypted message %s (Megolm session %s, index %d)",
                    event.event_id, event.sender, room_id, first or "(older than the kept days)", session_id, index)
        return True

    async def prune_megolm(self) -> None:
        """Forget the Megolm messages seen more than MEGOLM_KEPT ago (their sessions stay closed)."""
        now = datetime.now(UTC)
        closed = await self.db.write(lambda session: megolm.prune(session, now - MEGOLM_KEPT, now))
        self._pruned = time.monotonic()
        if closed:
            log.info("closed %d Megolm sessions older than %d days against replays", closed, MEGOLM_KEPT.days)

    def _mark_read(self, room_id: str, event_id: str, answered: Callable[[], Awaitable[None]]) -> None:
        """A read receipt on a command, so its sender sees that the bot has it even when the answer waits
        behind a burst of convocations. Best effort, off the sync path."""
        self._unread[room_id] = event_id
        task = self._receipts.get(room_id)
        if task is None or task.done():  # else the receipt on its way takes this command too
            self._receipts[room_id] = asyncio.create_task(self._send_receipts(room_id, answered))

    async def _send_receipts(self, room_id: str, answered: Callable[[], Awaitable[None]]) -> None:
        """Mark the latest command of a room read: after its answer has gone out, or RECEIPT_AT_MOST_AFTER seconds
        if it has not (sent at the same moment, the homeserver's work on the receipt slowed the answer); and
        no sooner than RECEIPT_EVERY after the room's last receipt, which the commands meanwhile share."""
        while room_id in self._unread:
            last = self._marked_at.get(room_id)
            if last is not None and (wait := last + RECEIPT_EVERY - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered(), RECEIPT_AT_MOST_AFTER)
            event_id = self._unread.pop(room_id)
            self._marked_at[room_id] = time.monotonic()
            with contextlib.suppress(Exception):
                await self.client.update_receipt_marker(room_id, event_id)

    def _too_old(self, room_id: str, sent_at: datetime) -> bool:
        return is_history(sent_at, self.rooms.joined_at.get(room_id) or self.first_sync_at)

    async def _unsigned(self, event: Any) -> bool:
        """Whether an encrypted event came from a device its owner has not cross-signed."""
        if not getattr(event, "decrypted", False):
            return False
        return not await self.session.sender_cross_signed(event.sender, getattr(event, "sender_key", None))

    def _reaction(self, room_id: str, event: ReactionEvent) -> Reaction | None:
        if event.sender == self.user_id or not isinstance(event.key, str):
            return None
        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if self._too_old(room_id, sent_at):
            return None
        return Reaction(room_id, event.sender, event.event_id, event.reacts_to, event.key, sent_at)

    def _incoming(self, room_id: str, event: Any, member_count: int) -> Incoming | None:
        if not isinstance(event, RoomMessageText) or event.sender == self.user_id:
            return None
        content = event.source.get("content", {})
        if not isinstance(content, dict) or not isinstance(event.body, str):
            return None
        relates = content.get("m.relates_to")
        relation = relates.get("rel_type") if isinstance(relates, dict) else None
        if relation == "m.replace":
            return None  # an edit; the original was already handled

        sent_at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if self._too_old(room_id, sent_at):
            return None
        return Incoming(room_id=room_id, sender=event.sender, event_id=event.event_id, body=event.body,
                        sent_at=sent_at, is_direct=member_count == 2 and room_id not in self.rooms.configured_room_ids,
                        thread_root=thread_of(content))


def is_history(sent_at: datetime, not_before: datetime | None) -> bool:
    """Whether an event the homeserver stamped `sent_at` is from before the bot was there to answer it."""
    return not_before is not None and sent_at < not_before - CLOCK_SKEW


def thread_of(content: object) -> str | None:
    """The root of the thread a message was sent in (thread relations stay unencrypted)."""
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    if isinstance(relates, dict) and relates.get("rel_type") == "m.thread" and isinstance(relates.get("event_id"), str):
        return str(relates["event_id"])
    return None
