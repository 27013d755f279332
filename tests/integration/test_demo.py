"""`make demo`, the README's first command, plays its whole scenario whatever the day and the hour; a step that
does not get what it waits for stops it with one sentence, and nothing it started is left running."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dev.devserver import free_port

ROOT = Path(__file__).resolve().parents[2]
IN_A_WEEK = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%MZ")


def play(tmp_path: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "dev.demo"]
    own = ["--once", "--workdir", str(tmp_path / "demo"), "--port", str(free_port())]  # beside other demos
    return subprocess.run([*command, *own, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=540, stdin=subprocess.DEVNULL)


def nothing_listens_at(output: str) -> bool:
    port = int(re.search(r"Homeserver: http://127\.0\.0\.1:(\d+)", output).group(1))  # type: ignore[union-attr]
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.timeout(600)
@pytest.mark.parametrize("at", [
    None,                 # today, as a reader starts it
    IN_A_WEEK,            # the other TiB's week in the rotation
    "2027-03-28T00:40Z",  # 01:40, twenty minutes before the clocks go forward: "om 2h" crosses the switch
    "2026-10-25T00:40Z",  # 02:40 summer time, the night the clocks go back
    "2026-12-31T22:50Z",  # ten to midnight on New Year's Eve: "i morgon 08:00" is next year
])
def test_the_demo_plays_to_the_end_on_any_day(tmp_path: Path, at: str | None) -> None:
    """Exit 0, every step answered, bengt (on call whatever the week) convened and acknowledged once, nothing left
    running and no noise."""
    done = play(tmp_path, *(["--at", at] if at else []))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "--- end of transcript ---" in out
    assert re.search(r"Tjänsteman i beredskap \(TiB\): @bengt:localhost till .+, därefter @anna:localhost", out)
    assert out.count("    direct message to bengt:") == 1
    assert out.count("[dm] bengt reacts ✅") == 1
    assert out.count("Kvitterat: Tjänsteman i beredskap (TiB) i Regionalt samordnande forum.") == 1
    assert "Kallelse till Regionalt samordnande forum" in out and "Ämne: lägesgenomgång" in out
    assert "(no answer)" not in out
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    assert nothing_listens_at(out)


@pytest.mark.timeout(300)
def test_a_step_without_its_answer_stops_the_demo_in_one_sentence(tmp_path: Path) -> None:
    """A ✅ where the bot has said nothing: exit 1, one sentence naming the step and what was missing, the
    steps after it not played, and the homeserver stopped."""
    code = ("import sys, dev.demo as d; d.SCENARIO[:] = [('nils', 'dm', '✅'), ('anna', 'samordnande', '!status')]; "
            "sys.exit(d.main(sys.argv[1:]))")
    done = play(tmp_path, code=code)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "make demo stopped at step 1, nils reacts ✅ in the direct room: the bot has sent nothing there to react to."]
    assert "!status" not in done.stdout and "--- end of transcript ---" not in done.stdout
    assert nothing_listens_at(done.stdout)


@pytest.mark.timeout(300)
def test_a_second_demo_in_the_same_folder_is_refused_and_sigterm_stops_everything(tmp_path: Path) -> None:
    """While one demo plays, another in its folder is refused in one sentence and disturbs nothing; SIGTERM (a CI
    job's timeout) stops the first with its homeserver, as Ctrl-C does."""
    own = ["--once", "--workdir", str(tmp_path / "demo"), "--port", str(free_port())]
    first = subprocess.Popen([sys.executable, "-m", "dev.demo", *own], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert first.stdout is not None
        printed = "".join(iter_until(first.stdout, "--- transcript ---"))
        second = play(tmp_path)  # the same folder
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            "make demo stopped while starting: another demo is playing in demo; stop it, or give this one a folder "
            "of its own with --workdir."]
        assert first.poll() is None  # the first plays on
        first.terminate()
        _, errors = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 143
    assert errors.strip().splitlines()[-1] == "make demo stopped: terminated."
    assert "Traceback" not in errors and "Unclosed" not in errors
    assert nothing_listens_at(printed)


def iter_until(stream: Any, line: str) -> Iterator[str]:
    """The lines of `stream` up to and including the first that is `line`."""
    for read in stream:
        yield read
        if read.strip() == line:
            return


@pytest.mark.parametrize("at", ["nonsense", "9999-12-31T23:59Z", "2027-13-01T00:00Z"])
def test_an_instant_the_demo_cannot_use_is_one_sentence_and_starts_nothing(tmp_path: Path, at: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dev.demo", "--once", "--workdir", str(tmp_path / "demo"),
                           "--at", at], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("python -m dev.demo: error: argument --at: ")
    assert "Traceback" not in done.stderr and not (tmp_path / "demo").exists()
