"""A person's phone running Element's crypto stack, for integration tests.

`tests/phone/phone.mjs` runs matrix-js-sdk with the Rust crypto library under Node; this class
drives it over its stdin/stdout and collects what it sees: every timeline event, decrypted where
the phone could decrypt it, with the push actions the phone itself evaluates (highlight, sound).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import wait_for

from dev.devserver import Homeserver, RegisteredUser

PHONE_DIR = Path(__file__).parent / "phone"


def missing() -> str | None:
    """Why the phone cannot run here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not (PHONE_DIR / "node_modules" / "matrix-js-sdk").is_dir():
        return "the test phone's packages are not installed (make phone)"
    return None


class PhoneError(Exception):
    """The phone answered a request with an error."""


class ElementPhone:
    """One device of one person, in Element's "exclude insecure devices" mode unless told otherwise."""

    def __init__(self, hs: Homeserver, user: RegisteredUser) -> None:
        self.hs = hs
        self.user = user
        self.device_id = ""
        self.events: list[dict[str, Any]] = []  # in the order first seen, each as last decrypted
        self.logs: list[str] = []  # what the phone reported besides events
        self._process: asyncio.subprocess.Process | None = None
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def start(self, *, cross_sign: bool = True, isolation: str = "signed") -> ElementPhone:
        """Log in as a new device, set up cross-signing (unless told not to) and start syncing."""
        self._process = await asyncio.create_subprocess_exec(
            "node", str(PHONE_DIR / "phone.mjs"), cwd=PHONE_DIR, limit=2**24,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())
        answer = await self.request("start", base_url=self.hs.url, user_id=self.user.user_id,
                                    password=self.user.password, cross_sign=cross_sign, isolation=isolation)
        self.device_id = answer["device_id"]
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self.logs.append(line.decode(errors="replace").rstrip())
                continue
            if "event" in message:
                self._saw(message["event"])
            elif "log" in message:
                self.logs.append(message["log"])
            elif "id" in message and message["id"] in self._answers:
                future = self._answers.pop(message["id"])
                if message["ok"]:
                    future.set_result(message["result"])
                else:
                    future.set_exception(PhoneError(message["error"]))
        for future in self._answers.values():
            future.set_exception(PhoneError("the phone's process ended"))

    def _saw(self, event: dict[str, Any]) -> None:
        """Keep the latest view of each event: a late room key turns a failure into the text."""
        for index, known in enumerate(self.events):
            if known["event_id"] == event["event_id"]:
                self.events[index] = event
                return
        self.events.append(event)

    async def request(self, op: str, timeout: float = 60.0, **args: Any) -> Any:
        assert self._process is not None and self._process.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = future
        self._process.stdin.write((json.dumps({"id": request_id, "op": op, **args}) + "\n").encode())
        await self._process.stdin.drain()
        return await asyncio.wait_for(future, timeout)

    async def join(self, room_id: str) -> None:
        await self.request("join", room_id=room_id)

    async def send(self, room_id: str, body: str, thread_root: str | None = None) -> str:
        answer = await self.request("send", room_id=room_id, body=body, thread_root=thread_root)
        return str(answer["event_id"])

    async def react(self, room_id: str, event_id: str, key: str = "✅") -> str:
        answer = await self.request("react", room_id=room_id, event_id=event_id, key=key)
        return str(answer["event_id"])

    async def device_status(self, user_id: str, device_id: str) -> dict[str, bool] | None:
        answer: dict[str, bool] | None = await self.request("device_status", user_id=user_id, device_id=device_id)
        return answer

    async def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        """The first event the phone has seen that matches."""

        async def find() -> dict[str, Any] | None:
            return next((event for event in self.events if predicate(event)), None)

        try:
            found: dict[str, Any] = await wait_for(find, timeout)
        except AssertionError as exc:
            seen = "\n".join(json.dumps(e, ensure_ascii=False)[:700] for e in self.events[-8:])
            raise AssertionError(f"{exc}; the phone of {self.user.user_id} saw last:\n{seen}") from None
        return found

    async def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(Exception):
            await self.request("stop", timeout=5)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._process = None


def from_bot(bot: str, room_id: str) -> Callable[[dict[str, Any]], bool]:
    """Messages the bot sent in a room, whatever the phone made of them."""
    return lambda e: e["sender"] == bot and e["room_id"] == room_id and e["type"] in (
        "m.room.message", "m.room.encrypted")


def text(event: dict[str, Any]) -> str:
    return str(event["content"].get("body", "")) if event["decryption_failure"] is None else ""
