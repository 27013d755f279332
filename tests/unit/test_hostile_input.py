"""Whatever anyone types after any command: a sentence back, never an incident, never raw HTML.

Runs the real dispatcher (parser, converters, handlers) on a real SQLite database, without Matrix:
the replies are read from the outbox, exactly as they would be sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.commands import REGISTRY
from bot.config import parse_settings
from bot.domain.clock import FakeClock
from bot.domain.directory import Directory
from bot.matrix.content import render
from bot.messages import Incoming
from bot.runtime.dispatch import Dispatcher
from bot.state.db import Database
from bot.state.models import OutboxMessage

TIB = "@tib:example.org"
NASTY_LIST = [
    "<script>alert(1)</script>", "@room", "<a href=\"https://matrix.to/#/@x:y\">x</a>", "**bold** _it_",
    "\u200b\u200b", "\u202eevil", "x" * 5000, "vecka 53", "kommer 25:99", "för", "till", "senast", "\n\n;;:",
    "i morgon 02:30", "samordnande", "tib", "--ny", "ingen förändring", "<img src=x onerror=alert(1)>",
    # time words and numbers
    "25:99", "24:00", "31 feb 10:00", "om -2h", "om 99999999999h", "2026-02-30 10:00", "0", "-1", "#7",
    "99999999999999999999",
    "²", "٣", "1e9", "vecka 0", "vecka ²", "3 dec 10:00", "fredag 25:00", "senast 1900-01-01", "till igår",
    # Unicode edge cases: zero-width, direction overrides, combining marks, surrogates' neighbours
    "\u200d\ufeff\u2060", "\u202e\u2066tib\u2069", "e\u0301\u0301\u0301", "Z\u0336a\u0336l\u0336g\u0336o\u0336",
    "\U0001f6a8\U0001f9d1\u200d\U0001f692", "ǅ", "ß", "İ", "\x00", "\t\r\n",
]
NASTY = st.sampled_from(NASTY_LIST)
TEXT = st.one_of(st.text(max_size=200), NASTY, st.lists(NASTY, max_size=4).map(" ".join))


def world_settings(tmp: Path) -> Any:
    return parse_settings({
        "bot": {"admins": ["@admin:example.org"], "log_room": "#logg:example.org"},
        "matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:example.org"},
        "database": {"url": f"sqlite+aiosqlite:///{tmp / 'bot.db'}"},
        "organisation": [{"id": "lst", "name": "Länsstyrelsen", "home_room": "#lst:example.org"},
                         {"id": "sos", "name": "SOS Alarm"}],
        "function": [{"id": "lst-tib", "organisation": "lst", "name": "TiB", "aliases": ["tib"], "may_convene": True,
                      "holders": [TIB], "deputies": ["sos-vb"]},
                     {"id": "sos-vb", "organisation": "sos", "name": "Vakthavande", "holders": ["@sara:example.org"]}],
        "forum": [{"id": "samordnande", "name": "Samordnande", "level": "samordnande", "room": "!forum:example.org",
                   "chair": "lst-tib", "ordinary": ["lst-tib", "sos-vb"],
                   "conference": {"phone": "+46812345678", "pin": "4711"},
                   "meeting": [{"name": "Veckomöte", "rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=10;BYMINUTE=0"}]}],
    })


class Incidents(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def run_all(tmp: Path, texts: list[str]) -> list[dict[str, Any]]:
    config = world_settings(tmp)
    db = Database(config.database.url)
    await db.migrate()
    dispatch = Dispatcher(db, Directory.build(config), FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))
    n = 0
    for text in texts:
        for spec in REGISTRY.all():
            for room in ("!forum:example.org", "!dm:example.org"):
                n += 1
                await dispatch.handle(Incoming(room, TIB, f"$e{n}", f"!{spec.name} {text}", datetime.now(UTC)))
    async with db.session() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    await db.close()
    return [render(json.loads(r.content)) for r in rows if r.state_key is None]


# 6 texts x every command x 2 rooms each: on CI 16 examples (about 6 700 command invocations); by hand as many
# as FUZZ_EXAMPLES says (bench/results/fuzz.json: 28).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or (16 if os.environ.get("CI") else 4))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(TEXT, min_size=6, max_size=6))
def test_every_command_answers_anything_with_a_sentence(tmp_path_factory: Any, texts: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("hostile")
    incidents = Incidents()
    logging.getLogger("bot").addHandler(incidents)
    try:
        contents = asyncio.run(run_all(tmp, texts))
    finally:
        logging.getLogger("bot").removeHandler(incidents)
    assert not incidents.records, [r.getMessage() for r in incidents.records]
    messages = [c for c in contents if c.get("msgtype") in ("m.text", "m.notice")]
    assert messages
    for content in messages:
        html = content.get("formatted_body", "")
        assert "<script" not in html and "<img" not in html  # user text arrives escaped
        assert "@room" not in content["body"]
        if content["msgtype"] == "m.notice":
            assert content["m.mentions"] == {}


def test_a_fixed_list_of_nasty_inputs_after_every_command(tmp_path: Path) -> None:
    """The same nasty inputs every run, beside the random ones: no incident, escaped, no @room."""
    incidents = Incidents()
    logging.getLogger("bot").addHandler(incidents)
    texts = [*NASTY_LIST, "x" * 16_000, " ".join(NASTY_LIST)]
    try:
        contents = asyncio.run(run_all(tmp_path, texts))
    finally:
        logging.getLogger("bot").removeHandler(incidents)
    assert not incidents.records, [r.getMessage() for r in incidents.records]
    for content in contents:
        if content.get("msgtype") in ("m.text", "m.notice"):
            html = content.get("formatted_body", "")
            assert "<script" not in html and "<img" not in html
            assert "@room" not in content["body"]
