"""baresip, started and supervised by the bot, driven over `ctrl_tcp`: JSON commands and events in netstrings
(`12:{"a":"b..."},`) on one connection.

Facts of baresip 1.0.0 this relies on: the events a command causes arrive before its reply; `dial` answers
without the call's id (the call is known by the address dialled until its first event); `callfind <id>`
makes a call the current one, which `hangup`, `transfer` and `sndcode` act on; `ausrc` switches the source
of the current user agent's current call as well, so it is switched while an idle account (which never
calls) is current. baresip leaves Nagle on: the bot's side sets TCP_NODELAY and TCP_QUICKACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODULES = ("g711.so", "aufile.so", "srtp.so", "dtls_srtp.so")
APP_MODULES = ("account.so", "menu.so", "ctrl_tcp.so")
CONNECT_FOR = 10.0  # seconds the user agent has to open its control port
COMMAND_TIMEOUT = 10.0

Event = dict[str, Any]
PID_FILE = "baresip.pid"
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None  # looked up before any fork


def _dies_with_the_bot() -> None:
    """In the child, before baresip runs: the kernel sends it SIGTERM when the bot dies, even by SIGKILL, so a
    user agent never outlives the bot that drives it (Linux; elsewhere the pid file covers it). Only the call
    itself runs in the child: the library was loaded in the parent."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as found:
            return found.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class UserAgentDown(Exception):
    """The user agent does not answer: it is restarted, and the calls wait."""


def netstring(data: dict[str, Any]) -> bytes:
    body = json.dumps(data, ensure_ascii=False).encode()
    return str(len(body)).encode() + b":" + body + b","


async def read_netstring(reader: asyncio.StreamReader) -> dict[str, Any]:
    length = await reader.readuntil(b":")
    body = await reader.readexactly(int(length[:-1]))
    if await reader.readexactly(1) != b",":
        raise ValueError("not a netstring")
    value: dict[str, Any] = json.loads(body)
    return value


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class UserAgent:
    """One baresip process with the bot's account and an idle one, and the control connection to it."""

    def __init__(self, folder: Path, account: str, listen: str, control: str, *, program: str = "baresip",
                 password: str | None = None, register: bool = True, extra: str = "") -> None:
        self.folder = folder
        self.account = account
        self.aor = account.split(";", 1)[0]
        self.idle = f"sip:idle-{secrets.token_hex(4)}@{_host_port(listen)[0]}"
        self.listen = listen
        self.control = control
        self.program = program
        self.password = password
        self.register = register
        self.extra = extra
        self.on_event: Callable[[Event], None] = lambda event: None
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._replies: dict[str, asyncio.Future[tuple[bool, str]]] = {}
        self._lock = asyncio.Lock()
        self.lost = asyncio.Event()
        self._closing = False

    def write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        modules = "".join(f"module {m}\n" for m in MODULES) + "".join(f"module_app {m}\n" for m in APP_MODULES)
        host = _host_port(self.listen)[0]
        (self.folder / "config").write_text(
            f"poll_method epoll\nsip_listen {self.listen}\nnet_interface {host}\n"
            f"module_path /usr/lib/baresip/modules\n{modules}ctrl_tcp_listen {self.control}\n"
            f"{self.extra}")
        params = self.account.split(";", 1)[1] if ";" in self.account else ""
        own = f"<{self.aor}{';' + params if params else ''}>"
        if self.password:
            own += f";auth_pass={self.password}"
        own += "" if self.register else ";regint=0"
        (self.folder / "accounts").write_text(f"{own}\n<{self.idle}>;regint=0\n")
        (self.folder / "accounts").chmod(0o600)

    @property
    def pid_file(self) -> Path:
        return self.folder / PID_FILE

    async def _stop_leftover(self) -> None:
        """A user agent an earlier run of the bot left behind (named by the pid file, its command line ours) is
        stopped; then nothing may answer at the control port, or the bot would drive another program."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid > 0 and _running(pid) and str(self.folder) in _command_line(pid):
            log.warning("voice: a user agent an earlier run left behind (pid %d) is stopped", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _running(pid) or _command_line(pid) == "":
                    break
                await asyncio.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        host, port = _host_port(self.control)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        except (OSError, TimeoutError):
            return
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        raise UserAgentDown(f"another program answers at the control port {self.control}, not a user agent the bot "
                            f"started; stop it or set another [voice] control")

    async def start(self) -> None:
        """Start baresip (it dies with the bot) and connect to it; a leftover of an earlier run is stopped first."""
        self.write_config()
        self.lost.clear()
        self._closing = False
        await self._stop_leftover()
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.program, "-f", str(self.folder), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                preexec_fn=_dies_with_the_bot)
        except OSError as exc:
            raise UserAgentDown(f"{self.program} cannot be started ({exc.strerror}); is Debian's baresip installed?") \
                from None
        self.pid_file.write_text(f"{self._process.pid}\n")
        host, port = _host_port(self.control)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_FOR
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                if loop.time() > deadline or self._process.returncode is not None:
                    await self.stop()
                    raise UserAgentDown(f"{self.program} did not open its control port {self.control}") from None
                await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader, sock), name="baresip-events")

    async def _read(self, reader: asyncio.StreamReader, sock: socket.socket) -> None:
        try:
            while True:
                message = await read_netstring(reader)
                with contextlib.suppress(AttributeError, OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                if message.get("response"):
                    waiting = self._replies.pop(str(message.get("token")), None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result((bool(message.get("ok")), str(message.get("data") or "")))
                elif message.get("event"):
                    try:
                        self.on_event(message)
                    except Exception:
                        log.exception("voice: handling a user agent event failed")
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            (log.debug if self._closing else log.error)("voice: the connection to the user agent ended (%s)",
                                                        type(exc).__name__)
        finally:
            for waiting in self._replies.values():
                if not waiting.done():
                    waiting.set_exception(UserAgentDown("the user agent went away"))
            self._replies.clear()
            self.lost.set()

    async def command(self, name: str, params: str | None = None) -> str:
        """One command and its reply's text; UserAgentDown when it cannot be given, RuntimeError when refused."""
        if self._writer is None or self.lost.is_set():
            raise UserAgentDown("not connected")
        token = secrets.token_hex(6)
        data: dict[str, Any] = {"command": name, "token": token}
        if params is not None:
            data["params"] = params
        reply: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self._replies[token] = reply
        self._writer.write(netstring(data))
        await self._writer.drain()
        try:
            ok, text = await asyncio.wait_for(reply, COMMAND_TIMEOUT)
        except TimeoutError:
            self._replies.pop(token, None)
            raise UserAgentDown(f"no answer to {name}") from None
        if not ok:
            raise RuntimeError(f"{name}: {text.strip()}")
        return text

    async def dial(self, uri: str, wav: Path) -> None:
        """Dial `uri`, playing `wav` into the call (the source is switched while the idle account is current,
        so calls in progress keep theirs)."""
        async with self._lock:
            try:
                await self.command("uafind", self.idle)
                await self.command("ausrc", f"aufile,{wav}")
                await self.command("uafind", self.aor)
            except RuntimeError as exc:  # it does not know the bot's own accounts: not the one the bot set up
                raise UserAgentDown(f"the user agent does not know the bot's accounts ({exc})") from None
            await self.command("dial", uri)

    async def on_call(self, call_id: str, name: str, params: str | None = None, *, account: str | None = None) -> None:
        """A command for one call: it is made the current call first (of `account`, the bot's own by default)."""
        async with self._lock:
            await self.command("uafind", account or self.aor)
            await self.command("callfind", call_id)
            await self.command(name, params)

    async def stop(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._process is not None:
            self.pid_file.unlink(missing_ok=True)
        self._process = None
