"""The bot's small HTTP endpoint for Kannel: replies (`/sms/incoming`, an sms-service's get-url or post-url)
and delivery reports (`/sms/dlr`, the dlr-url of each SMS sent). Every call carries the shared secret,
in the query (`secret=`) or the `X-Samverkan-Secret` header; a call without it is refused and logged."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.domain.clock import Clock
from bot.domain.sms import BadNumber, mask, normalise_number
from bot.messages import SmsIn
from bot.sms.sender import Record
from bot.state import sms as store
from bot.state.vault import Vault

log = logging.getLogger(__name__)

# Kannel's delivery report types: 1 delivered, 2 failed, 4 buffered, 8 accepted by the operator, 16 rejected.
RETRY_WINDOW = timedelta(minutes=1)  # without Kannel's id or time, the same reply again within it is a retry
REPORTS = {1: store.DELIVERED, 2: store.FAILED, 8: store.ACCEPTED, 16: store.FAILED}


class SmsEndpoint:
    def __init__(self, vault: Vault, clock: Clock, secret: str, listen: str,
                 on_reply: Callable[[SmsIn], Awaitable[None]], record: Record) -> None:
        self.vault = vault
        self.clock = clock
        self.secret = secret
        self.listen = listen
        self.on_reply = on_reply
        self.record = record
        self._runner: web.AppRunner | None = None
        self._recent: dict[str, tuple[str, datetime]] = {}  # sender and text -> the id given, when (no id, no time)

    async def start(self) -> None:
        app = web.Application()
        for path, handler in (("/sms/incoming", self.incoming), ("/sms/dlr", self.report)):
            app.router.add_get(path, handler)
            app.router.add_post(path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, _, port = self.listen.rpartition(":")
        await web.TCPSite(self._runner, host.strip("[]"), int(port)).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any] | None:
        """The call's values, or None (and a log line) when it does not carry the secret."""
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update(await request.post())
        given = request.headers.get("X-Samverkan-Secret") or str(params.get("secret", ""))
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("sms endpoint: %s %s from %s without the shared secret; refused", request.method,
                        request.path, request.remote)
            return None
        return params

    async def incoming(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if params is None:
            return web.Response(status=403, text="forbidden")
        try:
            number = normalise_number(str(params.get("from", "")))
        except BadNumber:
            log.warning("sms endpoint: a reply from a sender that is not a number; ignored")
            return web.Response(status=200, text="")
        text = str(params.get("text", ""))
        lookup = self.vault.lookup(number)
        gateway_id = self._gateway_id(params, lookup, text)
        reply = SmsIn(gateway_id=gateway_id, number=self.vault.seal(number), lookup=lookup, text=text[:500],
                      masked=mask(number))
        await self.on_reply(reply)
        return web.Response(status=200, text="")  # empty: the gateway texts nothing back by itself

    def _gateway_id(self, params: dict[str, Any], lookup: str, text: str) -> str:
        """What makes a reply one: Kannel's id for it (`id=%I` in the get-url); without it, the sender's lookup,
        the text and Kannel's own time for it (`time=%T`), which a retry repeats; without that too, the same
        sender and text within RETRY_WINDOW count once (Kannel's retry of a call it saw fail). The id is kept
        (handled events) and logged, so it never carries the number in clear."""
        given = str(params.get("id") or "")
        if given:
            return f"k{self.vault.lookup(given)[:24]}"
        stamp = str(params.get("time") or "")
        if stamp:
            return f"t{self.vault.lookup(f'{lookup}:{text}:{stamp}')[:24]}"
        now = self.clock.now()
        self._recent = {k: v for k, v in self._recent.items() if now - v[1] < RETRY_WINDOW}
        key = f"{lookup}:{text}"
        if key not in self._recent:
            self._recent[key] = (f"w{self.vault.lookup(f'{key}:{now.isoformat()}')[:24]}", now)
        return self._recent[key][0]

    async def report(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if params is None:
            return web.Response(status=403, text="forbidden")
        try:
            sms_id, kind = int(params.get("id", "")), int(params.get("type", ""))
        except ValueError:
            return web.Response(status=400, text="id and type are numbers")
        state = REPORTS.get(kind)
        if state is not None:  # answered once written: a crash before loses nothing, the gateway tries again
            await self.record(sms_id, state, self.clock.now(), f"delivery report {kind}")
        return web.Response(status=200, text="")
