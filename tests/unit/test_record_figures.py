"""The record's figures: time to acknowledge (median and worst) and who was never reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.record import Summoned, ack_figures, duration

T = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def test_median_and_worst_over_acknowledged_summonses_and_the_never_reached_once_each() -> None:
    figures = ack_figures([
        Summoned("a", T, T + timedelta(seconds=30)),
        Summoned("b", T, T + timedelta(minutes=4)),
        Summoned("c", T, None),
        Summoned("d", T, T + timedelta(minutes=2)),
        Summoned("c", T + timedelta(hours=1), None),  # convened again, still silent: listed once
        Summoned("e", T, None),
        Summoned("e", T + timedelta(hours=1), T + timedelta(hours=1, seconds=10)),  # reached the second time
    ])
    assert (figures.convened, figures.acknowledged) == (7, 4)
    assert figures.median == timedelta(seconds=75)  # between 30 s and 2 min
    assert figures.worst == timedelta(minutes=4)
    assert figures.never == ("c",)


def test_nobody_acknowledged_has_no_times() -> None:
    figures = ack_figures([Summoned("a", T, None), Summoned("b", T, None)])
    assert (figures.acknowledged, figures.median, figures.worst, figures.never) == (0, None, None, ("a", "b"))
    assert ack_figures([]).never == ()


def test_an_answer_before_the_phones_rang_counts_as_no_wait() -> None:
    """A conference planned quietly rings 15 minutes before it; whoever acknowledged from its notice waited 0 s."""
    rang = T + timedelta(hours=3, minutes=45)
    figures = ack_figures([Summoned("a", rang, T + timedelta(minutes=5)),
                           Summoned("b", rang, rang + timedelta(minutes=2))])
    assert (figures.median, figures.worst) == (timedelta(minutes=1), timedelta(minutes=2))


def test_durations_read_as_people_write_them() -> None:
    assert [duration(timedelta(seconds=s)) for s in (0, 45, 60, 200, 3600, 7500)] == [
        "0 s", "45 s", "1 min", "3 min 20 s", "1 h", "2 h 5 min"]
