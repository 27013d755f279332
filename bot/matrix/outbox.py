"""Deliver the outbox: most urgent first, in order within a room, honouring rate limits.

Two lanes run side by side: room pings and answers to commands, and the rest (direct messages,
chatter). An answer never waits for a batch of forty direct messages to finish opening rooms; the
second lane starts a pass only when the first has nothing due, so a room ping still goes first.

Every message already has its transaction id; sending it again after a crash is
de-duplicated by the homeserver, so nobody is pinged twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from nio import LocalProtocolError, RoomPutStateResponse, RoomSendResponse, SendRetryError, UploadResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.clock import Clock
from bot.matrix.client import MatrixAdapter
from bot.matrix.content import PIN, UPLOAD, compose_topic, render
from bot.matrix.rooms import DirectRoomError
from bot.matrix.session import RateLimited, retry_after
from bot.messages import LAYOUT_ENTRY, PRIORITY_ANSWER, TOPIC_PREFIX, UNPIN, Message
from bot.state import convocations, repo
from bot.state.db import Database
from bot.state.models import OutboxMessage
from bot.texts import t
from bot.texts.rich import Rich

log = logging.getLogger(__name__)

PARALLEL_ROOMS = 100  # as many connections as the HTTP client keeps
IDLE_WAIT = 30.0
DUE_LIMIT = 2000  # rows read per pass; more waits for the next pass
RECORD_EVERY = 50  # sent messages recorded per transaction while a large batch goes out
RETRY_CAP = 60.0
MAX_ATTEMPTS = 8  # for errors that are neither rate limits nor a lost connection
LANES: tuple[tuple[int, int | None], ...] = ((0, PRIORITY_ANSWER), (PRIORITY_ANSWER + 1, None))  # priority ranges
_PERMANENT = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_BAD_JSON", "M_TOO_LARGE", "M_INVALID_PARAM"}


def _in_lane(priority: int, lane: int) -> bool:
    low, high = LANES[lane]
    return priority >= low and (high is None or priority <= high)


class Transient(Exception):
    """The homeserver could not take the message now; try again later.

    A rate limit says exactly how long to wait; other troubles back off exponentially.
    """

    def __init__(self, message: str, wait: float, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.wait = wait
        self.rate_limited = rate_limited


class OutboxSender:
    def __init__(self, db: Database, matrix: MatrixAdapter, clock: Clock) -> None:
        self.db = db
        self.matrix = matrix
        self.clock = clock
        self.stopped = False  # ends the loop even if a cancellation is lost (asyncio.wait_for before 3.12)
        self.idle = asyncio.Event()  # every lane has delivered what is due
        self._wakes = [asyncio.Event() for _ in LANES]
        self._idle = [False for _ in LANES]
        self._backlog = [0 for _ in LANES]
        self._urgent_done = asyncio.Event()  # the first lane has nothing due
        # Rows committed and handed over since the lane last read the database: when the lane knows that
        # nothing else is due, it delivers them without reading it again (`hand`).
        self._handed: list[list[OutboxMessage]] = [[] for _ in LANES]
        # The lane must read the database for what is due: at start, after a failure, when a postponed
        # message may fall due, when told of messages without being handed them, when a pass left any.
        self._must_read = [True for _ in LANES]
        # Told about every message given up on, so a convocation can report who was not reached.
        self.on_give_up: Callable[[OutboxMessage, str], Awaitable[None]] | None = None
        # Counters the App passes in (the adapter knows no metrics): messages sent, and the backlog now.
        self.count_sent: Callable[[int], None] = lambda count: None
        self.show_backlog: Callable[[int], None] = lambda count: None

    def notify(self) -> None:
        """Messages may have been added without being handed over: every lane reads what is due."""
        for lane in range(len(LANES)):
            self._must_read[lane] = True
            self._wake(lane)

    def hand(self, rows: Sequence[OutboxMessage]) -> None:
        """Rows just committed: wake the lanes that deliver them, which need not read them back if nothing
        else is due (an answer then goes out one database read sooner)."""
        for lane in range(len(LANES)):
            mine = [row for row in rows if _in_lane(row.priority, lane)]
            if mine:
                self._handed[lane].extend(mine)
                self._wake(lane)

    def _wake(self, lane: int) -> None:
        if lane == 0:
            self._urgent_done.clear()  # it may be a ping: the first lane looks before the second
        self._wakes[lane].set()

    async def answered(self) -> None:
        """Until the first lane (room pings and answers) has delivered what was due when it was last woken."""
        await self._urgent_done.wait()

    def settled(self) -> bool:
        """Nothing due is left and nothing new has been announced."""
        return self.idle.is_set() and not any(wake.is_set() for wake in self._wakes)

    async def run(self) -> None:
        await asyncio.gather(*(self._run_lane(lane) for lane in range(len(LANES))))

    def _set_idle(self, lane: int, idle: bool) -> None:
        self._idle[lane] = idle
        if lane == 0 and idle:
            self._urgent_done.set()
        if all(self._idle):
            self.idle.set()
        else:
            self.idle.clear()

    async def _run_lane(self, lane: int) -> None:
        try:
            await self._deliver_forever(lane)
        finally:
            if lane == 0:  # the second lane must not wait for a lane that has stopped
                self._urgent_done.set()

    async def _deliver_forever(self, lane: int) -> None:
        wake, backoff = self._wakes[lane], 1.0
        while not self.stopped:
            if lane > 0:
                await self._urgent_done.wait()
            wake.clear()
            try:
                remaining, upcoming = await self.deliver_due(lane)
                self._backlog[lane] = remaining
                self.show_backlog(sum(self._backlog))
                backoff = 1.0
            except Transient as exc:
                self._must_read[lane] = True
                if exc.rate_limited:
                    log.warning("outbox paused %.1f s: %s", exc.wait, exc)
                    await asyncio.sleep(exc.wait)  # the homeserver said how long
                    continue
                wait = max(exc.wait, backoff)
                backoff = min(backoff * 2, RETRY_CAP)
                log.warning("outbox paused up to %.1f s: %s", wait, exc)
                # New messages mean the bot is syncing again, so the homeserver is back: try at once.
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                continue
            except Exception:
                self._must_read[lane] = True
                # A bug or a locked database must not stop delivery for good.
                log.exception("outbox failed; trying again in %.0f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_CAP)
                continue
            if remaining:
                continue
            self._set_idle(lane, True)
            wait = IDLE_WAIT if upcoming is None else \
                min(IDLE_WAIT, max(0.05, (upcoming - self.clock.now()).total_seconds()))
            try:
                await asyncio.wait_for(wake.wait(), wait)
            except TimeoutError:
                self._must_read[lane] = True  # a postponed message may be due now
            self._set_idle(lane, False)

    async def deliver_due(self, lane: int) -> tuple[int, datetime | None]:
        """Send what is due at the most urgent level of a lane. Returns how many due messages wait at lower levels
        (0 when all that was due has been tried, so the loop need not look again at once) and when the
        earliest postponed message falls due."""
        priorities = LANES[lane]
        handed, self._handed[lane] = self._handed[lane], []
        if not self._must_read[lane] and handed and len({row.priority for row in handed}) == 1:
            due = sorted(handed, key=lambda row: row.id or 0)  # nothing else is due: no need to read them back
        else:
            async with self.db.session() as session:
                due = list(await repo.due_messages(session, self.clock.now(), DUE_LIMIT, priorities))
                # Rows handed over meanwhile that this read has seen are this pass's; the rest, the next one's.
                seen = {row.id for row in due}
                self._handed[lane] = [row for row in self._handed[lane] if row.id not in seen]
                self._must_read[lane] = False
                self._backlog[lane] = len(due)
                self.show_backlog(sum(self._backlog))
                if not due:
                    upcoming = await repo.next_not_before(session, priorities)
                    self._must_read[lane] = upcoming is not None
                    return 0, upcoming
        due = await self._standing(due)
        if not due:  # all of it cancelled: read again at once what else is due
            self._must_read[lane] = True
            return 0, self.clock.now()
        top = due[0].priority
        batch = [row for row in due if row.priority == top]
        by_target: dict[str, list[OutboxMessage]] = defaultdict(list)
        for row in batch:
            by_target[row.target].append(row)
        limit = asyncio.Semaphore(PARALLEL_ROOMS)
        sent: list[tuple[int, str, str]] = []  # (outbox id, room id, event id), not yet recorded

        async def record(last: bool = False) -> datetime | None:
            """Mark what was sent; the last record also reads when the next postponed message falls due.
            A crash before a record only means a resend that the homeserver de-duplicates by transaction
            id; recording every RECORD_EVERY keeps that window small."""
            done = sent.copy()
            sent.clear()
            now = datetime.now(UTC)

            async def mark(session: AsyncSession) -> datetime | None:
                for message_id, room_id, event_id in done:
                    await repo.mark_sent(session, message_id, room_id, event_id, now)
                return await repo.next_not_before(session, priorities) if last else None

            upcoming = await self.db.write(mark) if done or last else None
            self.count_sent(len(done))
            return upcoming

        async def send_all(rows: list[OutboxMessage]) -> None:
            async with limit:
                for row in rows:
                    if self.stopped:
                        return  # stopping: sends in flight finish, the rest waits for the next start
                    done = await self.send(row)
                    if done is not None:
                        sent.append(done)
                        # What a person may react to (a convocation, a request, a draft) is written down at
                        # once: a ✅ on it must find it even while the rest of the batch is still going out.
                        if row.ref or len(sent) >= RECORD_EVERY:
                            await record()

        results = await asyncio.gather(*(send_all(rows) for rows in by_target.values()), return_exceptions=True)
        upcoming = await record(last=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        remaining = len(due) - len(batch) + (len(due) == DUE_LIMIT)
        # Anything left undelivered (a lower level, a postponed or stopped message) is read again.
        self._must_read[lane] = self._must_read[lane] or bool(remaining) or upcoming is not None
        return remaining, upcoming

    async def _standing(self, due: list[OutboxMessage]) -> list[OutboxMessage]:
        """`due` without the steps of a convocation that ended after they were written (handed over before its
        end, or read just before): those are never sent, and stay marked as cancelled."""
        refs = {row.ref for row in due if row.ref and row.ref.startswith("conv:")}
        if not refs:
            return due
        async with self.db.session() as session:
            ended = await convocations.ended_refs(session, sorted(refs))
        if not ended:
            return due
        await self.db.write(lambda session: repo.cancel_steps(session, sorted(ended)))
        return [row for row in due if row.ref not in ended]

    async def send(self, row: OutboxMessage) -> tuple[int, str, str] | None:
        """Send one message: (outbox id, room id, event id) once the homeserver has it, else None."""
        assert row.id is not None
        try:
            room_id = await self._room_for(row.target)
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"homeserver unreachable ({type(exc).__name__})", 1.0) from exc
        except DirectRoomError as exc:
            await self._give_up(row, str(exc))
            return None
        except RateLimited as exc:
            # Room creation has its own, stricter limit: this person's message waits, the rest go on.
            log.warning("%s; message %s postponed", exc, row.txn_id)
            async with self.db.session() as session:
                await repo.postpone(session, row.id, self.clock.now() + timedelta(seconds=exc.wait))
            return None
        if room_id is None:
            await self._give_up(row, f"room {row.target} does not exist")
            return None
        if not self.matrix.rooms.may_send(room_id):  # a direct room someone else was let into
            await self._give_up(row, f"the direct room {room_id} has others in it than the bot and the person")
            return None
        try:
            await self.matrix.rooms.make_known(room_id)
            if row.target.startswith("user:"):
                self.matrix.rooms.expect_member(room_id, row.target.removeprefix("user:"))
                await self.matrix.session.query_keys()  # their devices, if the bot has not learned them yet
        except (OSError, TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise Transient(f"cannot read the room {room_id} ({exc})", 1.0) from exc
        content = json.loads(row.content) if row.state_key is not None else render(json.loads(row.content))
        pin = content.pop(PIN, False)
        client = self.matrix.client
        try:
            if row.target in self.matrix.rooms.formed_rooms:
                await self.matrix.rooms.invite_convened(room_id, content.get("m.mentions", {}).get("user_ids", []))
            if row.state_key is not None:
                state = await self._state_content(room_id, row.event_type, content)
                if state is None:
                    return row.id, room_id, ""  # nothing to change
                content = state
            if UPLOAD in content:
                data = content.pop(UPLOAD).encode()
                encrypt = self.matrix.session.is_encrypted(room_id)  # the file is encrypted like the room
                uploaded, keys = await client.upload(io.BytesIO(data), content_type=content["info"]["mimetype"],
                                                     filename=content["body"], filesize=len(data), encrypt=encrypt)
                if not isinstance(uploaded, UploadResponse):
                    await self._failed(row, room_id, uploaded)
                    return None
                if encrypt and keys:
                    content["file"] = {"url": uploaded.content_uri, **keys}
                else:
                    content["url"] = uploaded.content_uri
            if row.state_key is not None:
                answer = await client.room_put_state(room_id, row.event_type, content, state_key=row.state_key)
            else:
                answer = await client.room_send(room_id, row.event_type, content, tx_id=row.txn_id,
                                                ignore_unverified_devices=True)
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"homeserver unreachable ({type(exc).__name__})", 1.0) from exc
        except (LocalProtocolError, SendRetryError) as exc:
            # Encrypted rooms: a room not synced yet, or members' keys still being fetched.
            raise Transient(f"cannot encrypt for {room_id} yet ({exc})", 1.0) from exc
        if isinstance(answer, RoomSendResponse | RoomPutStateResponse):
            if pin:
                await self._pin(room_id, answer.event_id, until_deactivated=pin is True)
            return row.id, room_id, answer.event_id
        if row.state_key is not None and getattr(answer, "status_code", None) == "M_FORBIDDEN":
            await self._lacks_power(row, room_id)
            return None
        await self._failed(row, room_id, answer)
        return None

    async def _state_content(self, room_id: str, event_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
        """The state to set, for the updates that depend on what the room has now: the mode in front of
        the topic people wrote, the bot's widget in the room's layout, and unpinning what the bot pinned.
        None: nothing to change."""
        if TOPIC_PREFIX in content:
            key = f"topic_prefix:{room_id}"
            async with self.db.session() as session:
                last = await repo.get_value(session, key)
            current = str((await self.matrix.rooms.room_state(room_id, "m.room.topic")).get("topic", ""))
            prefix = str(content[TOPIC_PREFIX])
            await self.db.write(lambda session: repo.set_value(session, key, prefix))
            return {"topic": compose_topic(current, last, prefix)}
        if isinstance(content.get(LAYOUT_ENTRY), dict):
            change = content[LAYOUT_ENTRY]
            layout = await self.matrix.rooms.room_state(room_id, event_type)
            widgets = dict(layout["widgets"]) if isinstance(layout.get("widgets"), dict) else {}
            if change.get("entry") is None:
                if change["id"] not in widgets:
                    return None
                widgets.pop(change["id"])
            else:
                widgets[change["id"]] = change["entry"]
            return {**layout, "widgets": widgets}
        if content.get(UNPIN):
            key = f"pinned:{room_id}"
            async with self.db.session() as session:
                ours = json.loads(await repo.get_value(session, key) or "[]")
            if not ours:
                return None
            pinned = (await self.matrix.rooms.room_state(room_id, "m.room.pinned_events")).get("pinned", [])
            await self.db.write(lambda session: repo.set_value(session, key, "[]"))
            return {"pinned": [event for event in pinned if event not in ours]}
        return content

    async def _pin(self, room_id: str, event_id: str, *, until_deactivated: bool) -> None:
        """Pin a message the bot sent (Element X shows pins as a banner); without power, only a log line.
        A pin until deactivation is written down, for the deactivation to remove."""
        pinned = (await self.matrix.rooms.room_state(room_id, "m.room.pinned_events")).get("pinned", [])
        answer = await self.matrix.client.room_put_state(room_id, "m.room.pinned_events",
                                                         {"pinned": [*pinned, event_id]})
        if not isinstance(answer, RoomPutStateResponse):
            log.warning("cannot pin %s in %s: %s", event_id, room_id, answer)
            return
        if not until_deactivated:
            return
        key = f"pinned:{room_id}"

        async def remember(session: AsyncSession) -> None:
            ours = json.loads(await repo.get_value(session, key) or "[]")
            await repo.set_value(session, key, json.dumps([*ours, event_id]))

        await self.db.write(remember)

    async def _lacks_power(self, row: OutboxMessage, room_id: str) -> None:
        """Say once per room that the bot may not change the topic or state, and carry on."""
        assert row.id is not None
        log.warning("no power to set %s in %s; the forum's mode shows in messages only", row.event_type, room_id)
        async with self.db.session() as session:
            await repo.mark_retry(session, row.id, row.not_before, "M_FORBIDDEN: no power", give_up=True)
            key = f"warned_power:{room_id}"
            if await repo.get_value(session, key):
                return
            await repo.set_value(session, key, "1")
            rich = Rich().text(t(self.matrix.rooms.settings.bot.language, "power.missing"))
            message = Message(target=room_id, body=rich.plain, html=rich.html)
            await repo.enqueue(session, key, [message], self.clock.now())

    async def _failed(self, row: OutboxMessage, room_id: str, answer: object) -> None:
        assert row.id is not None
        code = getattr(answer, "status_code", None)
        wait = retry_after(answer)
        if wait is not None:
            raise Transient(f"rate limited for {wait:.1f} s", wait, rate_limited=True)
        if code == "M_FORBIDDEN" and room_id not in self.matrix.client.rooms and await self.matrix.rooms.join(room_id):
            raise Transient(f"joined {room_id}, sending again", 0.0)
        if code in _PERMANENT or row.attempts + 1 >= MAX_ATTEMPTS:
            await self._give_up(row, f"{code}: {getattr(answer, 'message', answer)}")
            return
        async with self.db.session() as session:
            await repo.mark_retry(session, row.id, row.not_before, f"{code}: {answer}")
        raise Transient(f"send failed ({code})", 1.0)

    async def _give_up(self, row: OutboxMessage, reason: str) -> None:
        assert row.id is not None
        log.error("message %s to %s not delivered: %s", row.txn_id, row.target, reason)
        async with self.db.session() as session:
            await repo.mark_retry(session, row.id, row.not_before, reason, give_up=True)
        if self.on_give_up is not None:
            await self.on_give_up(row, reason)

    async def _room_for(self, target: str) -> str | None:
        if target.startswith("user:"):
            return await self.matrix.rooms.direct_room(target.removeprefix("user:"))
        return await self.matrix.rooms.resolve(target)
