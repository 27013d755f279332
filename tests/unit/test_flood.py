"""More than 20 commands a minute from one sender: one warning, then a minute of silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.flood import Flood, Verdict

T0 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def test_twenty_a_minute_pass_the_twenty_first_is_warned_then_a_minute_is_ignored() -> None:
    flood = Flood()
    verdicts = [flood.check("@a:x", T0 + timedelta(seconds=i)) for i in range(21)]
    assert verdicts == [Verdict.OK] * 20 + [Verdict.WARN]
    assert flood.check("@a:x", T0 + timedelta(seconds=30)) is Verdict.IGNORE
    assert flood.check("@b:x", T0 + timedelta(seconds=30)) is Verdict.OK, "others are not held back"
    assert flood.check("@a:x", T0 + timedelta(seconds=81)) is Verdict.OK, "a minute after the warning"


def test_a_steady_pace_under_the_limit_is_never_warned() -> None:
    flood = Flood()
    assert all(flood.check("@a:x", T0 + timedelta(seconds=3 * i)) is Verdict.OK for i in range(200))
