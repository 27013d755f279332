"""Fixtures: one real Synapse per test session, a fresh world (users, rooms, bot) per test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import World, make_world

from bot.devserver import Homeserver


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
