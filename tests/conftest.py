"""Fixtures: one real Synapse and one PostgreSQL per test session, a fresh world (users, rooms, bot) per test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pgserver import Postgres
from support import World, make_world

from bot.state.db import Database
from dev.devserver import Homeserver

# The tests that run Olm/Megolm (the bot's, and the Element phone's Rust crypto under Node) use a core each
# while keys are shared: in one group they run one after another, beside the rest, so that two of them never
# slow each other down past their waits.
ONE_AT_A_TIME = {"test_element_phone.py", "test_encryption.py", "test_cross_signing.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in ONE_AT_A_TIME:
            item.add_marker(pytest.mark.xdist_group("crypto"))


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    hs = Homeserver(tmp_path_factory.mktemp("synapse"))
    hs.start()
    yield hs
    hs.stop()


@pytest.fixture
async def world(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(homeserver, tmp_path)
    yield w
    await w.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir, why = Postgres.find()
    if bindir is None:
        pytest.skip(why)
    server = Postgres(bindir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes fresh, empty databases on each backend the state layer supports; gives their URLs."""
    if request.param == "sqlite":
        count = iter(range(1_000_000))
        return lambda: f"sqlite+aiosqlite:///{tmp_path / f'bot{next(count)}.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.new_database


@pytest.fixture
def database_url(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A fresh database of each backend, migrated."""
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()
