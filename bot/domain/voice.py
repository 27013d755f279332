"""The voice step of the ladder, pure: what a call's end means, what the call says.

A holder who has not acknowledged within the convocation's `call_after` is rung. The call says what, when
and which forum, and how to answer, twice; then the keys: 1 acknowledges, 2 acknowledges and connects the
caller to the forum's conference, 9 declines (the chair is told, the deputy convened at once). A call nobody
answers, or that is busy, is tried once more after `RETRY` (a second call within three minutes rings through
the phones' "repeated calls" rule); after that the deputy is convened. An answered call without a key counts
as not acknowledged, and the ladder goes on as it would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RETRY = timedelta(minutes=2)
ATTEMPTS = 2  # per person and convocation
TRUNK_WAIT = timedelta(seconds=30)  # a call the trunk did not take waits this long, doubled each time…
TRUNK_WAIT_MOST = timedelta(minutes=5)  # …up to this

# A call's state: queued (written, waiting for its time or a free line), dialling (written before the dial),
# answered; then one of the ends.
QUEUED, DIALLING, ANSWERED = "queued", "dialling", "answered"
ACKED, JOINED, DECLINED = "acked", "joined", "declined"  # a key: 1, 2, 9
NO_KEY, NO_ANSWER, BUSY, FAILED = "no_key", "no_answer", "busy", "failed"
CANCELLED, HUNG_UP = "cancelled", "hung_up"  # the convocation ended, or the person acknowledged otherwise
ACTIVE = (DIALLING, ANSWERED)
WAITING = (QUEUED, *ACTIVE)
ENDS = (ACKED, JOINED, DECLINED, NO_KEY, NO_ANSWER, BUSY, FAILED, CANCELLED, HUNG_UP)
KEYS = {"1": ACKED, "2": JOINED, "9": DECLINED}


@dataclass(frozen=True)
class After:
    """What follows the end of one call."""

    retry_at: datetime | None = None  # another attempt then
    deputy: bool = False  # convene the deputy now
    acknowledged: bool = False
    tell_chair: bool = False


def after_call(state: str, attempt: int, ended_at: datetime) -> After:
    """What the bot does once a call has ended in `state` (its `attempt`: 1 or 2)."""
    if state in (ACKED, JOINED):
        return After(acknowledged=True)
    if state == DECLINED:
        return After(deputy=True, tell_chair=True)
    if state in (NO_ANSWER, BUSY):
        if attempt < ATTEMPTS:
            return After(retry_at=ended_at + RETRY)
        return After(deputy=True)
    return After()


def trunk_wait(dials: int) -> timedelta:
    """How long a call the trunk did not take (refused, unreachable) waits before it is dialled again, after
    its `dials`th dial: 30 s, doubled each time, at most 5 minutes. The call is never given up."""
    doubled: timedelta = TRUNK_WAIT * 2 ** max(0, min(dials - 1, 10))
    return min(doubled, TRUNK_WAIT_MOST)


def unreached_at(attempt: int, created_at: datetime) -> datetime:
    """While the trunk takes no call, when the person counts as not reached, as if the calls had gone
    unanswered: when the second attempt would have been made (the first), at once (the second)."""
    return created_at + RETRY if attempt < ATTEMPTS else created_at


def digit_state(digit: str) -> str | None:
    """The end a key makes of a call: 1, 2 or 9; None for any other key (ignored)."""
    return KEYS.get(digit.strip()[:1])


@dataclass(frozen=True)
class Spoken:
    """What one convocation's call says, in words a speech synthesiser reads well."""

    exercise: bool
    event: str | None  # the activation's event, if the forum is activated
    forum: str
    when: str  # "i dag klockan 03.15", "lördag den 21 november klockan 10.00"
    joins: bool  # whether 2 can connect the caller to a conference


def script(spoken: Spoken, words: dict[str, str]) -> str:
    """The message, said twice. `words` are the language's phrases (voice.*)."""
    head = words["exercise"] + " " if spoken.exercise else ""
    what = words["activated"].format(event=spoken.event) if spoken.event else words["convened"]
    keys = words["keys_join"] if spoken.joins else words["keys"]
    once = f"{head}{what} {spoken.forum}. {words['when'].format(when=spoken.when)} {keys}"
    return f"{once} {words['again']} {once}"


def spoken_time(starts: datetime, days_ahead: int, words: dict[str, str]) -> str:
    """When the conference begins, as it is said: 'i dag klockan 10.00', 'i morgon klockan 10.00', 'lördag den
    21 november klockan 10.00' ('10.00' is read as a time). `starts` in local time; `words` the language's
    (voice.say.*)."""
    clock = f"{starts:%H}.{starts:%M}"
    if days_ahead == 0:
        return words["today"].format(time=clock)
    if days_ahead == 1:
        return words["tomorrow"].format(time=clock)
    return words["date"].format(weekday=words["weekdays"].split()[starts.weekday()], day=starts.day,
                                month=words["months"].split()[starts.month - 1], time=clock)
