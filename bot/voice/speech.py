"""What a call says, rendered once per text with espeak-ng and kept: 8 kHz mono 16-bit WAV, as G.711 carries.

The user agent plays the file into the call and ends the call when the file ends, so the file is the
message said twice and then `LISTEN` seconds of silence: the time left to press a key. A call that reaches
the end of the file without a key counts as answered without a key.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import wave
from pathlib import Path

RATE = 8000
LISTEN = 6.0  # seconds of silence after the message, to press a key
LONGEST = 40.0  # seconds the message said twice may take (each saying about 20 s); spoken faster if longer
SPEED = 165  # words a minute
FASTEST = 240  # still understood on a phone


class SpeechError(Exception):
    """The message could not be rendered (espeak-ng missing or failing)."""


def resample(samples: array.array[int], rate: int) -> array.array[int]:
    """`samples` at `rate` as 8 kHz: averaged over each output step (a low-pass enough for speech), then
    interpolated."""
    if rate == RATE:
        return samples
    step = rate / RATE
    out = array.array("h")
    count = int(len(samples) / step)
    width = max(1, int(step))
    for i in range(count):
        start = int(i * step)
        window = samples[start:start + width]
        out.append(int(sum(window) / len(window)) if window else 0)
    return out


def duration(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return float(wav.getnframes()) / float(wav.getframerate())


class Speech:
    """Renders texts into `folder`, one file per text, each once."""

    def __init__(self, folder: Path, espeak: str = "espeak-ng", voice: str = "sv") -> None:
        self.folder = folder
        self.espeak = espeak
        self.voice = voice
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, text: str) -> Path:
        digest = hashlib.sha256(f"{self.voice}:{text}".encode()).hexdigest()[:20]
        return self.folder / f"say-{digest}.wav"

    async def render(self, text: str) -> Path:
        """The file for `text`, rendered now if it is not there yet."""
        path = self.path(text)
        lock = self._locks.setdefault(path.name, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(path.exists):
                return path
            await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
            raw = path.with_suffix(".raw.wav")
            speed = SPEED
            for _ in range(4):
                await self._espeak(text, raw, speed)
                spoken = duration(raw)
                if spoken <= LONGEST or speed >= FASTEST:
                    break
                speed = min(FASTEST, int(speed * spoken / (LONGEST - 1.0)) + 2)
            await asyncio.to_thread(self._convert, raw, path)
            raw.unlink(missing_ok=True)
            return path

    async def _espeak(self, text: str, out: Path, speed: int) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                self.espeak, "-v", self.voice, "-s", str(speed), "-w", str(out), text,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise SpeechError(f"{self.espeak} cannot be started: {exc.strerror}") from exc
        _, err = await process.communicate()
        if process.returncode != 0 or not await asyncio.to_thread(out.exists):
            raise SpeechError(f"{self.espeak} failed ({process.returncode}): {err.decode(errors='replace')[:200]}")

    @staticmethod
    def _convert(raw: Path, path: Path) -> None:
        with wave.open(str(raw)) as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
        if width != 2:
            raise SpeechError(f"espeak-ng gave {8 * width}-bit samples; 16-bit expected")
        samples = array.array("h", frames)
        if channels > 1:
            samples = array.array("h", samples[::channels])
        out = resample(samples, rate)
        out.extend([0] * int(LISTEN * RATE))
        partial = path.with_suffix(".part")
        with wave.open(str(partial), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(out.tobytes())
        partial.replace(path)
