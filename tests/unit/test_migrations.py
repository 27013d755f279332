"""Migrations are Alembic's frozen files: a database of the release before Alembic is taken over
without loss, a database newer than the code is refused with a sentence, the models match the
newest revision, and `python -m bot migrate --sql` prints the SQL for a database administrator."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel, select

from bot.state import models, repo
from bot.state.db import HEAD, MIGRATIONS_DIR, Database, SchemaError
from bot.state.migrate import MIGRATIONS, alembic_config
from bot.state.models import AuditEntry, ForumStateRow, SchemaVersion

ROOT = Path(__file__).parents[2]

# sha256 of each released revision file: a released migration never changes; a new one is added.
RELEASED = {
    "0001_baseline.py": "f6721f325fb6cf3b03bc15f69436f508acec333b2242643d913adf7e3d4eb620",
    "0002_lease.py": "a3a6f89b9687dc51fbb01ea3ed53174ebd73e8f5a073778b43cffa1e9b3a13e8",
    "0003_joint_messages.py": "2fe6e02b1fa04e3a47d21d8610a6d670a7447738ebbfb73c22ab0d2c05caae8c",
    "0004_action_followup.py": "8a7685cddbbeca88c88b83ed8469332af03f819365bc5881bcbb5d1fc188937f",
    "0005_direction_returns.py": "a972643e24e1e9bcc991f1fdc3958f673329e112fb36adbe104cb2658045d0f9",
    "0006_formed_forums.py": "54070d98cc7bb90febce48a6662e6b16bace37f072d2185f3808b0f7a7a9014a",
    "0007_sms.py": "d1c66c6d162bb3a1a75c5f5e48b624461eb52cf9081472b6b82f54fdb850ca90",
    "0008_feeds_and_warnings.py": "048fbc343ba7d9c5af8035915b94d2ac917b4c68f3a3a559665097e622ae0a90",
    "0009_board_links.py": "0ca57075820e52b786675f72d05fdb703ab768f84e74e714989b9c4772af4484",
    "0010_identity_pins.py": "543226ad4a37632c4c6412f5960d4b074d04965ec8976348eb9685534f630123",
    "0011_convocation_end.py": "065b9d3e730db6549657c0d8f993f4cf1075a4e37bc3ee0ef2c4d5d8350ba927",
    "0012_megolm_seen.py": "ef9dcc7a77414ebadc6facfbe9fcdec98f5abcbbd0dead51240b60838775685a",
    "0013_calls.py": "9c2681fe2f8cfdfa5386594eb9cf3d2bea3b8171dd0c27730783e246e80f7704",
}


LATER_COLUMNS = {"log_entry": ("chased_at", "deviation", "deviation_at"),  # added by 0004
                 "summons": ("sms_due_at", "declined_at", "call_due_at"),  # added by 0007, 0011, 0013
                 "convocation": ("sms_after", "ended_at", "ended_why", "call_after")}  # added by 0007, 0011, 0013


def _previous_release_migrate(conn: Connection) -> None:
    """How the release before Alembic made its schema (its bot/state/db.py, numbered migrations 1-5)."""
    groups = [
        (1, "bot state, handled events, outbox, audit",
         [models.KeyValue, models.HandledEvent, models.OutboxMessage, models.AuditEntry]),
        (2, "forum state, activations, activation requests",
         [models.ForumStateRow, models.ActivationRow, models.ActivationRequest]),
        (3, "stand-ins, convocations, summonses, added functions",
         [models.StandInRow, models.Convocation, models.Summons, models.AddedFunction]),
        (4, "meetings: changes, meetings, attendance, meeting log",
         [models.MeetingChange, models.MeetingRow, models.Attendance, models.LogEntry]),
        (5, "situation reports and weekly summaries", [models.ReportRow, models.WeeklySummary]),
    ]
    SQLModel.metadata.create_all(conn, tables=[models.SchemaVersion.__table__])  # type: ignore[attr-defined]
    for version, description, tables in groups:
        SQLModel.metadata.create_all(conn, tables=[t.__table__ for t in tables])  # type: ignore[attr-defined]
        conn.execute(models.SchemaVersion.__table__.insert().values(  # type: ignore[attr-defined]
            version=version, description=description, applied_at=datetime.now(UTC)))
    for table, columns in LATER_COLUMNS.items():  # the models have them; that release did not
        for column in columns:
            conn.execute(text(f"DROP INDEX IF EXISTS ix_{table}_{column}"))
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))


async def test_a_database_of_the_previous_release_upgrades_without_loss(new_database: Callable[[], str]) -> None:
    db = Database(new_database())
    async with db.engine.begin() as conn:
        await conn.run_sync(_previous_release_migrate)
    async with db.session() as session:
        await repo.audit(session, at=datetime.now(UTC), user_id="@anna:example.org", action="activate",
                         forum_id="samordnande")
        await repo.set_value(session, "sync_token", "s72594_4483_1934")
    assert await db.migrate() == ["0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011",
                                  "0012", "0013"], "taken over: only what came after it runs"
    assert await db.migrate() == []
    async with db.session() as session:
        audit = (await session.exec(select(AuditEntry))).all()
        assert [(a.user_id, a.action) for a in audit] == [("@anna:example.org", "activate")]
        assert await repo.get_value(session, "sync_token") == "s72594_4483_1934"
        assert sorted((await session.exec(select(SchemaVersion.version))).all()) == list(range(1, 18))
        assert (await session.exec(text("SELECT version_num FROM alembic_version"))).all() == [("0013",)]
        session.add(ForumStateRow(forum_id="samordnande", mode="activated"))  # the tables work as before
    await db.close()


async def test_a_new_database_gets_every_revision_and_its_history(new_database: Callable[[], str]) -> None:
    db = Database(new_database())
    assert await db.migrate() == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010",
                                  "0011", "0012", "0013"]
    assert await db.migrate() == []
    async with db.session() as session:
        rows = (await session.exec(select(SchemaVersion))).all()
    assert [(r.version, r.description) for r in rows] == [(m.version, m.description) for m in MIGRATIONS]
    await db.close()


async def test_a_database_newer_than_the_code_is_refused_and_left_alone(new_database: Callable[[], str]) -> None:
    url = new_database()
    db = Database(url)
    await db.migrate()
    async with db.session() as session:
        await session.exec(text("UPDATE alembic_version SET version_num = '0042'"))  # type: ignore[call-overload]
    with pytest.raises(SchemaError, match=r"revision 0042.*newer version"):
        await db.migrate()
    async with db.session() as session:
        assert (await session.exec(text("SELECT version_num FROM alembic_version"))).all() == [("0042",)]
    await db.close()


async def test_the_models_match_the_newest_revision(new_database: Callable[[], str]) -> None:
    """A model changed without a new revision is caught here, not by a deployment."""
    db = Database(new_database())
    await db.migrate()

    def differences(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))

    async with db.engine.connect() as conn:
        found = await conn.run_sync(differences)
    await db.close()
    type_only = [d for d in found if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert type_only == []


def test_the_head_read_from_the_file_names_is_alembics_head() -> None:
    """A start on an up-to-date database compares with HEAD and skips Alembic: it must be the real head."""
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def test_released_revision_files_are_frozen() -> None:
    files = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert files == sorted(RELEASED)
    for name, digest in RELEASED.items():
        assert hashlib.sha256((MIGRATIONS_DIR / "versions" / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("url, dialect_word", [("sqlite+aiosqlite:///data/x.db", "DATETIME"),
                                               ("postgresql+asyncpg://samverkan@db:5432/samverkan", "TIMESTAMP")])
def test_migrate_sql_prints_the_ddl_for_a_dba(tmp_path: Path, url: str, dialect_word: str) -> None:
    config = tmp_path / "config.toml"
    example = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    config.write_text(example.replace('url = "sqlite+aiosqlite:///data/samverkan.db"', f'url = "{url}"'),
                      encoding="utf-8")
    answer = subprocess.run([sys.executable, "-m", "bot", "migrate", "--config", str(config), "--sql"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert answer.returncode == 0, answer.stderr
    assert "CREATE TABLE outbox" in answer.stdout and dialect_word in answer.stdout
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in answer.stdout
    assert "CREATE TABLE lease" in answer.stdout
    assert not (tmp_path / "data").exists(), "--sql touches no database"
