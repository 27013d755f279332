"""The schema's history through Alembic: upgrading, the legacy baseline, the SQL for a database
administrator. Imported only when a database is not at the newest revision (see `Database.migrate`)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.state.db import MIGRATIONS_DIR, SchemaError

log = logging.getLogger(__name__)

BASELINE = "0001"  # the schema of the releases before Alembic (schema_version 1-5)


@dataclass(frozen=True)
class Migration:
    """One step in the schema's history, as schema_version records it for people to read."""

    version: int
    description: str


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def _history() -> tuple[Migration, ...]:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = reversed(list(script.walk_revisions()))
    return tuple(Migration(v, d) for rev in revisions for v, d in getattr(rev.module, "HISTORY", ()))


MIGRATIONS = _history()


def upgrade(conn: Connection) -> list[str]:
    """Upgrade to the newest revision; a database of the release before Alembic is taken over as the baseline."""
    config = alembic_config()
    config.attributes["connection"] = conn
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None and inspect(conn).has_table("schema_version"):
        legacy = {row[0] for row in conn.exec_driver_sql("SELECT version FROM schema_version")}
        if not {m.version for m in MIGRATIONS if m.version <= 5} <= legacy:
            raise SchemaError(f"the database has schema versions {sorted(legacy)} of an unfinished first start; "
                              "start from a backup or an empty database")
        command.stamp(config, BASELINE)
        current = BASELINE
        log.info("database of the release before Alembic: taken over as revision %s", BASELINE)
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaError(f"the database is at schema revision {current}, which this version of the bot does not "
                          "know: it was upgraded by a newer version. Run that version, or restore a backup "
                          "taken before the upgrade")
    head = script.get_current_head()
    pending = [] if current == head else [
        rev.revision for rev in reversed(list(script.iterate_revisions(head, current or "base")))]
    if pending:
        command.upgrade(config, "head")
    return pending


def migration_sql(url: str) -> str:
    """The SQL that brings an empty database of this kind to the newest revision, for a DBA to read or run."""
    out = io.StringIO()
    config = alembic_config(url.replace("+aiosqlite", "").replace("+asyncpg", ""))
    config.output_buffer = out
    command.upgrade(config, "head", sql=True)
    return out.getvalue()


