"""Deliver the SMS outbox through Kannel's smsbox (`sendsms`), recording what the gateway answers.

Kannel has no idempotency key: an SMS is marked accepted the instant the gateway answers 202, so a crash
can text a person twice only if it falls between that answer and that write. A gateway that does not
answer is tried again with backoff; nothing is dropped, and `health` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import SmsSettings
from bot.domain.clock import Clock
from bot.domain.sms import mask
from bot.state import convocations, repo
from bot.state import sms as store
from bot.state.db import Database
from bot.state.models import SmsMessage
from bot.state.vault import Vault

log = logging.getLogger(__name__)

DUE_LIMIT = 500
IDLE_WAIT = 30.0
RETRY_CAP = 60.0
GATEWAY_PROBE = 4.0  # seconds between tries while the gateway does not answer: due SMS go out within 5 s of its return
MAX_ATTEMPTS = 5  # for a gateway that answers, but refuses this SMS
# Delivered, failed, rejected by the operator. Not 8 (taken by the operator's centre): the gateway's 202 is
# already recorded as accepted, and a report less per SMS leaves the database to the SMS going out.
DLR_MASK = 1 | 2 | 16
TIMEOUT = aiohttp.ClientTimeout(total=15)
REPORTS_EVERY = 0.2  # seconds a delivery report may wait to be written together with others


Report = tuple[int, str, datetime, str | None]  # sms id, state, when, why
Record = Callable[[int, str, datetime, str | None], Awaitable[None]]


class GatewayDown(Exception):
    """The gateway did not take the SMS now: try again later."""


class SmsSender:
    def __init__(self, db: Database, settings: SmsSettings, password: str, secret: str, vault: Vault,
                 clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.password = password
        self.secret = secret
        self.vault = vault
        self.clock = clock
        self.stopped = False
        self.idle = asyncio.Event()
        self._wake = asyncio.Event()
        self._known_state: str | None = None
        self.accepted: Callable[[int], None] = lambda count: None  # counts SMS accepted by the gateway
        self._reports: list[tuple[Report, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._urgent = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def recover(self) -> None:
        """SMS a crash left claimed (`sending`): sent again while their convocation stands (a crash can text a
        person twice, never more), counted as taken once it has ended (the notice that it ended goes)."""

        async def write(session: AsyncSession) -> int:
            ended = await convocations.ended_refs(session, await store.sending_refs(session))
            return await store.recover(session, ended)

        if found := await self.db.write(write):
            log.info("sms: %d SMS whose sendsms a stop cut short; the gateway may have them", found)

    async def run(self) -> None:
        backoff = 1.0
        await self.recover()
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            while not self.stopped:
                self._wake.clear()
                try:
                    upcoming = await self.deliver_due(http)
                    backoff = 1.0
                    wait = IDLE_WAIT if upcoming is None else \
                        min(IDLE_WAIT, max(0.05, (upcoming - self.clock.now()).total_seconds()))
                except GatewayDown as exc:  # asked again often: its return is noticed within GATEWAY_PROBE
                    wait, backoff = min(backoff, GATEWAY_PROBE), min(backoff * 2, GATEWAY_PROBE)
                    (log.warning if wait < GATEWAY_PROBE else log.debug)(
                        "sms gateway not answering (%s); trying again in %.0f s", exc, wait)
                except Exception:
                    wait, backoff = backoff, min(backoff * 2, RETRY_CAP)
                    log.exception("sms delivery failed; trying again in %.0f s", wait)
                self.idle.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                self.idle.clear()

    async def deliver_due(self, http: aiohttp.ClientSession) -> datetime | None:
        """Send what is due, one SMS at a time (a crash can then double at most the one the gateway took and
        the bot had not recorded yet); returns when the next postponed SMS falls due."""
        while True:
            async with self.db.session() as session:
                due = list(await store.due(session, self.clock.now(), DUE_LIMIT))
                if not due:
                    return await store.next_not_before(session)
                ended = await convocations.ended_refs(session, [r.ref for r in due if r.ref])
            if ended:  # a step of a convocation that ended after it was written: never sent
                refs = sorted(ended)
                await self.db.write(lambda session, refs=refs: store.cancel_steps(session, refs))  # type: ignore[misc]
                due = [r for r in due if r.ref not in ended or r.kind != "convocation"]
            for row in due:
                if self.stopped:
                    return None
                await self.send(http, row)

    async def send(self, http: aiohttp.ClientSession, row: SmsMessage) -> None:
        """One sendsms call: the SMS is claimed first (`queued` -> `sending`, its own short transaction), so
        one cancelled since it was read is not sent, and one the end finds being sent counts as texted (its
        person is told it ended); 'accepted' is written the moment the gateway says 202."""
        assert row.id is not None
        sms_id = row.id

        async def claim(session: AsyncSession) -> bool:
            if row.kind == "notice" and await store.unfounded_notices(session, [row]):
                await store.drop(session, [sms_id])  # the convocation's SMS was not taken after all
                return False
            return await store.claim(session, sms_id)

        if not await self.db.write(claim):
            return
        try:
            await self._sendsms(http, row)
        except GatewayDown:
            await self.db.write(lambda session: store.unclaim(session, sms_id))
            raise

    async def _sendsms(self, http: aiohttp.ClientSession, row: SmsMessage) -> None:
        assert row.id is not None
        number = self.vault.open(row.number)
        params = {"username": self.settings.user, "password": self.password, "from": self.settings.sender,
                  "to": number, "text": row.text, "charset": "UTF-8", "coding": "0",
                  "dlr-mask": str(DLR_MASK),
                  "dlr-url": f"{self.settings.base_url}/sms/dlr?secret={self.secret}&id={row.id}&type=%d"}
        try:
            async with http.get(self.settings.gateway, params=params) as answer:
                status, body = answer.status, (await answer.text())[:200].strip()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self._gateway(f"down {type(exc).__name__}")
            raise GatewayDown(type(exc).__name__) from exc
        now = self.clock.now()
        if status == 202:  # "0: Accepted for delivery" or "3: Queued for later delivery"
            await self.record(row.id, store.ACCEPTED, now, urgent=True)
            self.accepted(1)
            await self._gateway("ok")
            return
        if status >= 500 or "authoriz" in body.lower():  # down, or its account is misconfigured: keep the SMS
            await self._gateway(f"down HTTP {status}: {body}")
            raise GatewayDown(f"HTTP {status}: {body}")
        # Refused for this SMS ("Not routable. Do not try again."): given up at once, or after a few tries.
        give_up = "do not try again" in body.lower() or row.attempts + 1 >= MAX_ATTEMPTS
        log.error("sms %s to %s refused by the gateway (HTTP %s: %s)%s", row.id, mask(number), status, body,
                  "; given up" if give_up else "")
        await self.db.write(lambda session: store.retry(session, row.id or 0, now + timedelta(seconds=30),
                                                        f"HTTP {status}: {body}", give_up=give_up))
        await self._gateway("ok")

    async def record(self, sms_id: int, state: str, at: datetime, why: str | None = None, *,
                     urgent: bool = False) -> None:
        """What the gateway said of an SMS (its 202, a delivery report), written before this returns.

        Every such write goes through here, one transaction at a time, and those that arrive meanwhile go into
        the same transaction: SQLite makes writers that meet wait in its busy handler's sleeps. A delivery
        report waits up to REPORTS_EVERY for company; the record of a 202 (`urgent`, the next SMS waits for
        it) is written at once, with the reports gathered so far.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reports.append(((sms_id, state, at, why), done))
        if urgent:
            self._urgent.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_reports())
        await done

    async def _write_reports(self) -> None:
        while self._reports:
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), REPORTS_EVERY)
            self._urgent.clear()
            batch, self._reports = self._reports, []

            async def write(session: AsyncSession, batch: list[tuple[Report, asyncio.Future[None]]] = batch) -> None:
                for (sms_id, state, at, why), _ in batch:
                    await store.mark(session, sms_id, state, at, why)

            try:
                await self.db.write(write)
            except Exception as exc:  # noqa: BLE001 - each caller gets the failure (the gateway then tries again)
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)

    async def _gateway(self, state: str) -> None:
        """Write down the gateway's state when it changes (for `health` and `!sms status`)."""
        word = state.split(" ", 1)[0]
        if word == self._known_state:
            return
        self._known_state = word
        value = "ok" if word == "ok" else f"down {self.clock.now().isoformat()} {state.removeprefix('down ')}"
        if word == "ok":
            log.info("sms gateway answering")
        await self.db.write(lambda session: repo.set_value(session, store.GATEWAY, value))
