"""Who may change what: every state-changing command against every kind of sender.

Runs the real dispatcher on a real SQLite database and on PostgreSQL. A command changed state when it wrote an allowed
audit entry; a known sender's refusal writes a refused one. Only Matrix ids count: a user on
another server called "tib" is a stranger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from bot.config import parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.messages import Incoming
from bot.runtime.dispatch import Dispatcher
from bot.state.db import Database
from bot.state.models import AuditEntry

FORUM_ROOM = "!forum:example.org"
SENDERS = {
    "convener": "@tib:example.org",  # Länsstyrelsen's TiB: may convene
    "chair": "@nacka:example.org",  # the forum's chair function
    "member": "@sos:example.org",  # a member function of the forum
    "other_forum": "@other:example.org",  # a function of another forum only
    "admin": "@admin:example.org",  # an admin without a function
    "outsider": "@nobody:example.org",
    "bot": "@bot:example.org",
    "lookalike": "@tib:evil.example",  # same local name, another homeserver
}
# command, whether the forum is activated first, who may
MATRIX: list[tuple[str, bool, set[str]]] = [
    ("!aktivera samordnande storm", False, {"convener", "chair", "member", "other_forum"}),  # others request
    ("!avaktivera samordnande", True, {"convener", "chair"}),
    ("!kalla samordnande", False, {"convener", "chair"}),
    ("!kalla-in varmdo-tib samordnande", True, {"convener", "chair"}),
    ("!övning på samordnande", False, {"convener"}),
    ("!tjänstgör lst-tib", False, {"convener", "admin"}),
    ("!ställ-in samordnande", False, {"convener", "chair"}),
    ("!beslut stäng E4", True, {"convener", "chair", "member"}),
    ("!ordförande sos-vb", False, {"convener", "chair"}),
    ("!rapport konsekvenser: köer", False, {"convener", "chair", "member"}),
]


def config(url: str) -> Any:
    return parse_settings({
        "bot": {"admins": [SENDERS["admin"]]},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": SENDERS["bot"]},
        "database": {"url": url},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen"}, {"id": "sos", "name": "SOS Alarm"},
                         {"id": "nacka", "name": "Nacka kommun"}, {"id": "varmdo", "name": "Värmdö kommun"}],
        "function": [
            {"id": "lst-tib", "organisation": "lst", "name": "TiB", "may_convene": True,
             "holders": [SENDERS["convener"]]},
            {"id": "sos-vb", "organisation": "sos", "name": "Vakthavande", "holders": [SENDERS["member"]]},
            {"id": "nacka-tib", "organisation": "nacka", "name": "Nacka TiB", "holders": [SENDERS["chair"]]},
            {"id": "varmdo-tib", "organisation": "varmdo", "name": "Värmdö TiB", "holders": [SENDERS["other_forum"]]},
        ],
        "forum": [
            {"id": "samordnande", "name": "Samordnande", "level": "samordnande", "room": FORUM_ROOM,
             "chair": "nacka-tib", "ordinary": ["lst-tib", "sos-vb", "nacka-tib"],
             "meeting": [{"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0"}]},
            {"id": "inriktande", "name": "Inriktande", "level": "inriktande", "room": "!inr:example.org",
             "chair": "lst-tib", "ordinary": ["lst-tib", "varmdo-tib"]},
        ],
    })


async def attempt(url: str, command: str, activated: bool, sender: str,
                  unverified: bool = False) -> tuple[int, int]:
    """(allowed, refused) audit entries written by `sender`'s command (sent from an unverified session)."""
    settings = config(url)
    db = Database(settings.database.url)
    await db.migrate()
    dispatch = Dispatcher(db, Directory.build(settings), FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))
    if activated:
        await dispatch.handle(Incoming(FORUM_ROOM, SENDERS["convener"], "$setup", "!aktivera samordnande storm",
                                    datetime.now(UTC)))
    await dispatch.handle(Incoming(FORUM_ROOM, sender, "$tried", command, datetime.now(UTC),
                                   device_unsigned=unverified))
    async with db.session() as session:
        rows = (await session.exec(select(AuditEntry).where(AuditEntry.event_id == "$tried"))).all()
    await db.close()
    return sum(1 for r in rows if r.allowed), sum(1 for r in rows if not r.allowed)


@pytest.mark.parametrize(("command", "activated", "allowed"), MATRIX, ids=[c for c, _, _ in MATRIX])
def test_only_the_allowed_senders_change_state_and_refusals_are_audited(
        new_database: Callable[[], str], command: str, activated: bool, allowed: set[str]) -> None:
    for kind, sender in SENDERS.items():
        changed, refused = asyncio.run(attempt(new_database(), command, activated, sender))
        if kind in allowed:
            assert changed >= 1 and refused == 0, f"{kind} should be allowed: {command}"
        else:
            assert changed == 0, f"{kind} must not change anything: {command}"
            assert refused == 1, f"{kind}'s refusal is not audited: {command}"


@pytest.mark.parametrize(("command", "activated", "allowed"), MATRIX, ids=[c for c, _, _ in MATRIX])
def test_from_a_session_its_owner_has_not_verified_nobody_changes_anything(
        new_database: Callable[[], str], command: str, activated: bool, allowed: set[str]) -> None:
    """A stolen password gives a new, unverified session: even the convener's commands are refused, audited."""
    for kind in allowed:
        changed, refused = asyncio.run(attempt(new_database(), command, activated, SENDERS[kind], unverified=True))
        assert (changed, refused) == (0, 1), f"{kind} from an unverified session: {command}"


@pytest.mark.parametrize("command", ["!status", "!vem lst-tib", "!kallelse samordnande", "!schema samordnande"])
def test_reading_stays_open_to_an_unverified_session(new_database: Callable[[], str], command: str) -> None:
    _, refused = asyncio.run(attempt(new_database(), command, False, SENDERS["member"], unverified=True))
    assert refused == 0
