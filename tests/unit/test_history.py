"""What the bot counts as history it must not answer, when the homeserver's clock is not the bot's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.matrix.sync import is_history

STARTED = datetime(2027, 3, 28, 0, 40, tzinfo=UTC)


def test_a_command_from_a_homeserver_whose_clock_is_a_few_seconds_behind_is_answered() -> None:
    """Typed just after the bot's first sync, stamped by a server clock 5 or 20 s behind: not history."""
    assert not is_history(STARTED + timedelta(seconds=1) - timedelta(seconds=5), STARTED)
    assert not is_history(STARTED - timedelta(seconds=20), STARTED)


def test_what_was_said_well_before_the_bot_came_is_history() -> None:
    """A minute or a day before the first sync or the join: never answered; and before any sync, nothing is."""
    assert is_history(STARTED - timedelta(minutes=1), STARTED)
    assert is_history(STARTED - timedelta(days=1), STARTED)
    assert not is_history(STARTED - timedelta(days=1), None)
