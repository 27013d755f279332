"""Dial the call rows the flows wrote, at most `max_parallel_calls` at once, and report how each ended.

Each row is marked `dialling` in the database before its dial, so a crash repeats at most the calls in
progress; a row is picked only by the query that checks, at that moment, that its convocation stands, the
person has not acknowledged and nobody is on the phone with them already. A call whose convocation ends or
whose person acknowledges on another channel while it rings or plays is hung up. What a call ended in goes
back through `report`, which the App hands to the flows; a key's answer (transfer or hang up) comes back
from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.config import VoiceSettings
from bot.domain import voice as rules
from bot.domain.clock import Clock
from bot.domain.sms import mask
from bot.state import repo
from bot.state import voice as store
from bot.state.db import Database
from bot.state.models import VoiceCall
from bot.state.vault import Vault
from bot.voice.speech import Speech, SpeechError
from bot.voice.useragent import Event, UserAgent, UserAgentDown

log = logging.getLogger(__name__)

IDLE_WAIT = 30.0
RESTART_CAP = 60.0
TRUNK = "trunk"  # how a call ended that the trunk did not take: not an end, the call waits (see `_closed`)

# call id, its end (bot/domain/voice.py), the key pressed, why -> where to transfer the call, if anywhere
Report = Callable[[int, str, str | None, str | None], Awaitable[str | None]]
Scripts = Callable[[Sequence[int]], Awaitable[dict[int, str]]]
Unreached = Callable[[VoiceCall], Awaitable[None]]  # the trunk takes none of this person's calls


@dataclass
class Live:
    """A call of ours in progress."""

    row: VoiceCall
    uri: str
    call_id: str | None = None
    answered: bool = False
    keyed: bool = False
    timed_out: bool = False
    hung_up: bool = False  # no longer wanted: hung up, or to be as soon as its call id is known
    hangup_sent: bool = False
    ring: asyncio.Task[None] | None = None


def ended_as(live: Live, reason: str) -> tuple[str, str | None]:
    """A call that closed without a key: what it counts as, and why (for the log and the row). `TRUNK` when
    the trunk, not the number, did not take it: no answer from it (a timeout, a refused connection, a name
    that does not resolve: a reason without a SIP code), 408, 5xx, or the account's credentials."""
    if live.hung_up:
        return rules.HUNG_UP, "hung up: the convocation ended or was acknowledged"
    if live.answered:
        return rules.NO_KEY, None
    if live.timed_out:
        return rules.NO_ANSWER, "not answered in time"
    if trunk_fault(reason):
        return TRUNK, reason or "closed before the trunk answered"
    code = reason.split(" ", 1)[0]
    if code in ("486", "600", "603"):
        return rules.BUSY, reason
    if code in ("480", "487"):
        return rules.NO_ANSWER, reason
    return rules.FAILED, reason


def trunk_fault(reason: str) -> bool:
    """The trunk, not the number: no SIP answer at all (transport), 408, 5xx, or the account's credentials
    (401, 403, 407)."""
    code = reason.split(" ", 1)[0]
    if not (len(code) == 3 and code.isdigit()):
        return True
    return code.startswith("5") or code in ("401", "403", "407", "408")


class VoiceCaller:
    def __init__(self, db: Database, settings: VoiceSettings, agent: UserAgent, speech: Speech, vault: Vault,
                 clock: Clock, report: Report, scripts: Scripts, unreached: Unreached | None = None) -> None:
        self.db = db
        self.settings = settings
        self.agent = agent
        self.speech = speech
        self.vault = vault
        self.clock = clock
        self.report = report
        self.scripts = scripts
        self.unreached = unreached
        self.stopped = False
        self.idle = asyncio.Event()
        self.dialled: Callable[[int], None] = lambda count: None  # counts calls dialled
        self.live: dict[int, Live] = {}
        self._by_call: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._known_trunk: str | None = None
        agent.on_event = self._event

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = 1.0
        while not self.stopped:
            try:
                await self.agent.start()
                await self.db.write(store.after_crash)
                backoff = 1.0
                await self._serve()
            except UserAgentDown as exc:
                await self._trunk(f"down {exc}")
                log.error("voice: the SIP user agent is not running (%s); starting it again in %.0f s", exc, backoff)
            except Exception:
                log.exception("voice: calling failed; starting again in %.0f s", backoff)
            finally:
                await self._forget_all()
                await self.agent.stop()
            if self.stopped:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            backoff = min(backoff * 2, RESTART_CAP)

    async def _serve(self) -> None:
        while not self.stopped and not self.agent.lost.is_set():
            self._wake.clear()
            await self.hang_up_unwanted()
            upcoming = await self.dial_due()
            wait = IDLE_WAIT if upcoming is None else \
                min(IDLE_WAIT, max(0.05, (upcoming - self.clock.now()).total_seconds()))
            self.idle.set()
            lost = asyncio.ensure_future(self.agent.lost.wait())
            woken = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait([lost, woken], timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            woken.cancel()
            self.idle.clear()
        if self.agent.lost.is_set() and not self.stopped:
            raise UserAgentDown("the connection ended")

    async def dial_due(self) -> datetime | None:
        """Dial what is due while lines are free; returns when the next waiting call falls due."""
        free = self.settings.max_parallel_calls - len(self.live)
        async with self.db.session() as session:
            due = await store.due(session, self.clock.now(), free) if free > 0 else []
            upcoming = await store.next_not_before(session, self.clock.now())
        if not due:
            return upcoming if free > 0 else None
        words = await self.scripts(sorted({row.convocation_id for row in due}))
        for row in due:
            if self.stopped:
                break
            await self._dial(row, words.get(row.convocation_id))
        return self.clock.now()  # look again at once: more may be due

    async def _dial(self, row: VoiceCall, text: str | None) -> None:
        assert row.id is not None
        if text is None:
            return
        try:
            wav = await self.speech.render(text)
        except SpeechError as exc:
            log.error("voice: the message for convocation %s cannot be spoken (%s); calls wait", row.convocation_id,
                      exc)
            await self._trunk(f"down speech: {exc}")
            return
        number = self.vault.open(row.number)
        uri = f"sip:{number}@{self.settings.domain}"
        taken = await self.db.write(lambda session: store.dialling(session, row.id or 0, self.clock.now()))
        if not taken:
            return
        live = Live(row=row, uri=uri)
        self.live[row.id] = live
        try:
            await self.agent.dial(uri, wav)
        except RuntimeError as exc:  # the user agent refused the command: its fault, not the number's
            await self._closed(live, f"the user agent refused the call: {exc}")
            return
        self.dialled(1)
        live.ring = asyncio.create_task(self._ring(live), name=f"ring-{row.id}")

    async def _ring(self, live: Live) -> None:
        """Not answered within `ring_for`: hung up, and counted as not answered."""
        await asyncio.sleep(self.settings.ring_for.total_seconds())
        if not live.answered and live.row.id in self.live and live.call_id is not None:
            live.timed_out = True
            with contextlib.suppress(UserAgentDown, RuntimeError):
                await self.agent.on_call(live.call_id, "hangup")

    async def hang_up_unwanted(self) -> None:
        """Calls in progress whose convocation ended, or whose person acknowledged meanwhile: hung up (one
        dialled but not yet known by its call id is hung up as soon as its first event names it)."""
        ids = [i for i, live in self.live.items() if not live.keyed and not live.hung_up]
        if not ids:
            return
        async with self.db.session() as session:
            wanted = await store.standing(session, ids, self.clock.now())
        for call in ids:
            live = self.live.get(call)
            if call in wanted or live is None or live.hung_up:
                continue
            live.hung_up = True
            log.info("voice: call %s hung up: its convocation ended or the person acknowledged", call)
            await self._hang_up(live)

    async def _hang_up(self, live: Live) -> None:
        if live.call_id is None or live.hangup_sent:
            return
        live.hangup_sent = True
        with contextlib.suppress(UserAgentDown, RuntimeError):
            await self.agent.on_call(live.call_id, "hangup")

    # ---- events ----

    def _event(self, event: Event) -> None:
        task = asyncio.create_task(self._handle(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _find(self, event: Event) -> Live | None:
        call_id = str(event.get("id") or "")
        if not call_id:
            return None
        if call_id in self._by_call:
            return self.live.get(self._by_call[call_id])
        if event.get("direction") != "outgoing":
            return None
        peer = str(event.get("peeruri") or "")
        waiting = [live for live in self.live.values() if live.call_id is None]
        found = next((live for live in waiting if live.uri == peer), waiting[0] if len(waiting) == 1 else None)
        if found is not None and found.row.id is not None:
            found.call_id = call_id
            self._by_call[call_id] = found.row.id
        return found

    async def _handle(self, event: Event) -> None:
        kind = str(event.get("type"))
        live = self._find(event)
        if live is None or live.row.id is None:
            if kind == "CALL_INCOMING" and event.get("id"):  # nobody calls the bot: refused
                with contextlib.suppress(UserAgentDown, RuntimeError):
                    await self.agent.on_call(str(event["id"]), "hangup")
            return
        row_id = live.row.id
        if live.hung_up and kind != "CALL_CLOSED":  # no longer wanted before its call id was known
            await self._hang_up(live)
            return
        if kind == "CALL_RINGING":
            await self._trunk("ok")
        elif kind == "CALL_ESTABLISHED":
            live.answered = True
            await self._trunk("ok")
            await self.db.write(lambda session: store.answered(session, row_id, self.clock.now()))
        elif kind == "CALL_DTMF_START":
            await self._key(live, str(event.get("param") or ""))
        elif kind == "CALL_CLOSED":
            await self._closed(live, str(event.get("param") or ""))
        elif kind == "TRANSFER_FAILED":
            log.error("voice: call %s could not be transferred to the conference (%s)", row_id, event.get("param"))
            with contextlib.suppress(UserAgentDown, RuntimeError):
                if live.call_id:
                    await self.agent.on_call(live.call_id, "hangup")

    async def _key(self, live: Live, digit: str) -> None:
        state = rules.digit_state(digit)
        if state is None or live.keyed or live.hung_up or live.row.id is None or live.call_id is None:
            return
        live.keyed = True
        target = await self.report(live.row.id, state, digit, None)
        with contextlib.suppress(UserAgentDown, RuntimeError):
            if state == rules.JOINED and target:
                await self.agent.on_call(live.call_id, "transfer", target)
            else:
                await self.agent.on_call(live.call_id, "hangup")

    async def _closed(self, live: Live, reason: str) -> None:
        row = live.row
        assert row.id is not None
        self.live.pop(row.id, None)
        if live.call_id:
            self._by_call.pop(live.call_id, None)
        if live.ring is not None:
            live.ring.cancel()
        self.notify()
        if live.keyed:
            return
        state, why = ended_as(live, reason)
        if state == TRUNK:
            await self._not_taken(row, reason)
            return
        if state == rules.FAILED:
            log.error("voice: call %s to %s failed (%s)", row.id, mask(self.vault.open(row.number)), reason)
        await self.report(row.id, state, None, why)

    async def _not_taken(self, row: VoiceCall, reason: str) -> None:
        """The trunk (or the user agent) did not take the call: the number is not to blame. The call waits and
        is dialled again (backing off, never given up); once the ladder would have gone on, the person counts
        as not reached and the deputy is convened."""
        assert row.id is not None
        await self._trunk(f"down {reason}")
        now = self.clock.now()
        wait = await self.db.write(lambda session: store.requeue(session, row.id or 0, now, reason))
        if wait is None:
            return
        self.notify()  # look again: the wait it has now
        who = "the user agent" if reason.startswith("the user agent") else f"the trunk {self.settings.domain}"
        log.error("voice: %s did not take call %s (%s); the call waits and is dialled again in %d s", who, row.id,
                  reason, wait.total_seconds())
        if self.unreached is not None and now >= rules.unreached_at(row.attempt, row.created_at):
            await self.unreached(row)

    async def _forget_all(self) -> None:
        """The user agent is gone: its calls are gone with it (their rows are dialled again at the restart)."""
        for live in self.live.values():
            if live.ring is not None:
                live.ring.cancel()
        self.live.clear()
        self._by_call.clear()

    async def _trunk(self, state: str) -> None:
        """Write down the telephony's state when it changes (for `health`)."""
        word = state.split(" ", 1)[0]
        if word == self._known_trunk:
            return
        self._known_trunk = word
        value = "ok" if word == "ok" else f"down {self.clock.now().isoformat()} {state.removeprefix('down ')}"
        if word == "ok":
            log.info("voice: the trunk answers")
        await self.db.write(lambda session: repo.set_value(session, store.TRUNK, value))

    async def stop(self) -> None:
        self.stopped = True
        self.notify()
