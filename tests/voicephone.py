"""Test phones for the voice tests: one baresip on 127.0.0.1 with an account per phone number (the called
user must match an account exactly), driven over its ctrl_tcp like the bot's own; and a "bridge" baresip that
plays a conference's dial-in. Each phone answers by itself (or rings unanswered, or rejects as busy),
presses keys (`sndcode`, RFC 4733) and records what it heard (`sndfile`), checked with `sox`.

`make test` installs Debian's baresip, espeak-ng, sip-tester and sox when they are missing; where they are
not there, `find()` says why and the tests that need them are skipped.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgserver import free_port

from bot.voice.useragent import UserAgent

AUTO, RING, BUSY = "auto", "ring", "busy"
_TAKEN: set[int] = set()  # SIP ports and the TCP port after each (baresip takes p+1 too)


def sip_port() -> int:
    """A port p for a SIP listener such that p + 1 is free as well, and kept from `port()`."""
    while True:
        found = free_port()
        if found not in _TAKEN and found + 1 not in _TAKEN:
            try:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", found + 1))
            except OSError:
                continue
            _TAKEN.update((found, found + 1))
            return found


def port() -> int:
    """A free port that is no SIP listener's p + 1."""
    while True:
        found = free_port()
        if found not in _TAKEN:
            _TAKEN.add(found)
            return found


def find() -> str | None:
    """None when the voice tests can run here; else why not."""
    missing = [p for p in ("baresip", "espeak-ng", "sox", "sipp") if shutil.which(p) is None]
    return (f"not installed: {', '.join(missing)} (Debian's baresip, espeak-ng, sox, sip-tester)"
            if missing else None)


def silence(path: Path, seconds: float) -> Path:
    """A quiet WAV for a phone to send (baresip ends a call when its source file ends)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * int(8000 * seconds))
    return path


def stats(path: Path, start: float | None = None, length: float | None = None) -> dict[str, float]:
    """sox's statistics of a recording (or of `length` seconds from `start`): 'Length (seconds)', 'RMS amplitude'…"""
    trim = ["trim", str(start), str(length)] if start is not None and length is not None else []
    out = subprocess.run(["sox", str(path), "-n", *trim, "stat"], capture_output=True, text=True, check=True).stderr
    found: dict[str, float] = {}
    for line in out.splitlines():
        name, _, value = line.partition(":")
        try:
            found[" ".join(name.split())] = float(value.strip().split()[0])
        except (ValueError, IndexError):
            continue
    return found


@dataclass
class Heard:
    """What one phone saw of one call."""

    call_id: str
    number: str
    events: list[str] = field(default_factory=list)

    @property
    def in_call(self) -> bool:
        return "CALL_ESTABLISHED" in self.events and "CALL_CLOSED" not in self.events


class Phones:
    """One baresip with an account per number: AUTO answers, RING rings and is never answered, BUSY rejects."""

    def __init__(self, folder: Path, numbers: dict[str, str], host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.numbers = numbers  # number -> AUTO | RING | BUSY
        self.port = sip_port()
        self.domain = f"{host}:{self.port}"
        self.calls: dict[str, Heard] = {}
        self.most_at_once = 0
        self.transfers: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        records = folder / "heard"
        records.mkdir(parents=True, exist_ok=True)
        self.records = records
        quiet = silence(folder / "quiet.wav", 120)
        self.agent = UserAgent(folder / "ua", f"sip:phones@{self.domain}", self.domain, f"{host}:{port()}",
                               register=False,
                               extra=f"audio_source aufile,{quiet}\nmodule sndfile.so\nsnd_path {records}\n")
        self.agent.on_event = self._event

    def write_accounts(self) -> None:
        lines = [f"<sip:{n}@{self.domain}>;regint=0;answermode={'auto' if mode == AUTO else 'manual'}"
                 for n, mode in self.numbers.items()]
        (self.agent.folder / "accounts").write_text("\n".join(lines) + "\n")

    async def start(self) -> None:
        self.agent.write_config()
        self.write_accounts()
        write = self.agent.write_config
        self.agent.write_config = lambda: None  # type: ignore[method-assign]
        try:
            await self.agent.start()
        finally:
            self.agent.write_config = write  # type: ignore[method-assign]

    def _event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        call_id = str(event.get("id") or "")
        aor = str(event.get("accountaor") or "")
        number = aor.removeprefix("sip:").split("@", 1)[0]
        kind = str(event.get("type"))
        if kind == "TRANSFER":
            self.transfers.append(event)
        if not call_id or event.get("direction") != "incoming":
            return
        heard = self.calls.setdefault(call_id, Heard(call_id, number))
        heard.events.append(kind)
        if kind == "CALL_ESTABLISHED":
            self.most_at_once = max(self.most_at_once, sum(n.in_call for n in self.calls.values()))
        if kind == "CALL_INCOMING" and self.numbers.get(number) == BUSY:
            asyncio.get_running_loop().create_task(self._reject(number, call_id))

    async def _reject(self, number: str, call_id: str) -> None:
        async with self.agent._lock:
            await self.agent.command("uafind", f"sip:{number}@{self.domain}")
            await self.agent.command("callfind", call_id)
            await self.agent.command("hangup")

    def rang(self, number: str) -> list[Heard]:
        """The calls that reached `number`, oldest first."""
        return [h for h in self.calls.values() if h.number == number]

    def answered(self, number: str) -> list[Heard]:
        return [h for h in self.rang(number) if "CALL_ESTABLISHED" in h.events]

    def in_progress(self, number: str) -> int:
        return sum(1 for h in self.rang(number) if "CALL_ESTABLISHED" in h.events and "CALL_CLOSED" not in h.events)

    async def press(self, call_id: str, keys: str) -> None:
        """The phone that has the call presses `keys` (its account made current first: calls are per account)."""
        number = self.calls[call_id].number
        for key in keys:
            await self.agent.on_call(call_id, "sndcode", key, account=f"sip:{number}@{self.domain}")
            await asyncio.sleep(0.3)

    def recordings(self) -> list[Path]:
        return sorted(self.records.glob("*-dec.wav"))

    async def stop(self) -> None:
        await self.agent.stop()


class Bridge(Phones):
    """A conference bridge: answers every call and remembers who came and what keys they sent."""

    def __init__(self, folder: Path, user: str = "konferens") -> None:
        super().__init__(folder, {user: AUTO})
        self.user = user
        self.address = f"sip:{user}@{self.domain}"

    def digits(self) -> list[str]:
        return [str(e.get("param")) for e in self.events if e.get("type") == "CALL_DTMF_START"]

    def callers(self) -> list[str]:
        return [str(e.get("peeruri")) for e in self.events if e.get("type") == "CALL_ESTABLISHED"]


TRUNK_REFUSES = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a trunk that refuses every call">
  <recv request="INVITE" />
  <send>
    <![CDATA[
      SIP/2.0 503 Service Unavailable
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" optional="true" />
</scenario>
"""


class SippTrunk:
    """SIPp (Debian's sip-tester) as a trunk that answers every INVITE with 503."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = sip_port()
        self.domain = f"127.0.0.1:{self.port}"
        self.scenario = folder / "refuse.xml"
        self.scenario.write_text(TRUNK_REFUSES)
        self.trace = folder / "messages.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["sipp", "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.port), "-trace_msg",
             "-message_file", str(self.trace), "-nostdin"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=self.folder)

    def invites(self) -> int:
        if not self.trace.exists():
            return 0
        return sum(1 for line in self.trace.read_text(errors="replace").splitlines() if line.startswith("INVITE "))

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
