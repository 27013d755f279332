"""One polite fetch of a feed: a conditional GET (ETag, Last-Modified), a size cap, `429` with `Retry-After`
read; or a file on disk, for a rota kept next to the configuration."""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
USER_AGENT = "samverkan-bot (feeds; polite polling with conditional requests)"


@dataclass(frozen=True)
class Answer:
    """A feed's answer: a new body, or None when it has not changed since the copy the bot has."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None


UNREACHABLE = "unreachable"
NO_ANSWER = "no answer in time"


def silent(reason: str | None) -> bool:
    """Whether a fault (a FeedFault's reason, as stored) is that the feed did not answer at all, rather than that
    it answered with something the bot could not use (an error status, a 429, a body it could not read)."""
    return reason is not None and reason.startswith((UNREACHABLE, NO_ANSWER))


class FeedFault(Exception):
    """The feed gave nothing usable this time; `retry_after` (seconds) when it asked for a pause."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def fetch(http: aiohttp.ClientSession, url: str, etag: str | None, last_modified: str | None,
                max_bytes: int) -> Answer:
    """The feed at `url` if it changed since (`etag`, `last_modified`); raises FeedFault otherwise."""
    if not url.startswith(("http://", "https://")):
        return await asyncio.to_thread(_read_file, Path(url), last_modified, max_bytes)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with http.get(url, headers=headers, timeout=TIMEOUT) as answer:
            if answer.status == 304:
                return Answer(None, etag, last_modified)
            if answer.status == 429 or (answer.status == 503 and "Retry-After" in answer.headers):
                raise FeedFault(f"HTTP {answer.status}", retry_after(answer.headers.get("Retry-After"),
                                                                    datetime.now(UTC)))
            if answer.status != 200:
                raise FeedFault(f"HTTP {answer.status}")
            if (answer.content_length or 0) > max_bytes:
                raise FeedFault(f"larger than {max_bytes} bytes")
            body = await answer.content.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FeedFault(f"larger than {max_bytes} bytes")
            return Answer(body, answer.headers.get("ETag"), answer.headers.get("Last-Modified"))
    except (aiohttp.ClientError, OSError) as exc:
        raise FeedFault(f"{UNREACHABLE} ({type(exc).__name__})") from exc
    except TimeoutError as exc:
        raise FeedFault(NO_ANSWER) from exc


def _read_file(path: Path, last_modified: str | None, max_bytes: int) -> Answer:
    try:
        stat = path.stat()
        stamp = str(stat.st_mtime_ns)
        if stamp == last_modified:
            return Answer(None, None, stamp)
        if stat.st_size > max_bytes:
            raise FeedFault(f"larger than {max_bytes} bytes")
        return Answer(path.read_bytes(), None, stamp)
    except OSError as exc:
        raise FeedFault(f"cannot read the file ({exc.strerror})") from exc
