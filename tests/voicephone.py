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
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgserver import free_port

from bot.voice.useragent import UserAgent

AUTO, RING, BUSY = "auto", "ring", "busy"


def find() -> str | None:
    """None when the voice tests can run here; else why not."""
    missing = [p for p in ("baresip", "espeak-ng", "sox") if shutil.which(p) is None]
    return f"not installed: {', '.join(missing)} (Debian's baresip, espeak-ng, sox)" if missing else None


def silence(path: Path, seconds: float) -> Path:
    """A quiet WAV for a phone to send (baresip ends a call when its source file ends)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * int(8000 * seconds))
    return path


def stats(path: Path) -> dict[str, float]:
    """sox's statistics of a recording: 'Length (seconds)', 'RMS amplitude', …"""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
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


class Phones:
    """One baresip with an account per number: AUTO answers, RING rings and is never answered, BUSY rejects."""

    def __init__(self, folder: Path, numbers: dict[str, str], host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.numbers = numbers  # number -> AUTO | RING | BUSY
        self.port = free_port()
        self.domain = f"{host}:{self.port}"
        self.calls: dict[str, Heard] = {}
        self.transfers: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        records = folder / "heard"
        records.mkdir(parents=True, exist_ok=True)
        self.records = records
        quiet = silence(folder / "quiet.wav", 120)
        self.agent = UserAgent(folder / "ua", f"sip:phones@{self.domain}", self.domain, f"{host}:{free_port()}",
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
        if kind == "CALL_INCOMING" and self.numbers.get(number) == BUSY:
            asyncio.get_running_loop().create_task(self.agent.on_call(call_id, "hangup"))

    def rang(self, number: str) -> list[Heard]:
        """The calls that reached `number`, oldest first."""
        return [h for h in self.calls.values() if h.number == number]

    def answered(self, number: str) -> list[Heard]:
        return [h for h in self.rang(number) if "CALL_ESTABLISHED" in h.events]

    def in_progress(self, number: str) -> int:
        return sum(1 for h in self.rang(number) if "CALL_ESTABLISHED" in h.events and "CALL_CLOSED" not in h.events)

    async def press(self, call_id: str, keys: str) -> None:
        for key in keys:
            await self.agent.on_call(call_id, "sndcode", key)
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
