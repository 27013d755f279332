"""Command line: `python -m bot run|check-config|health|backup|ics`. Composes the parts; no logic here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib import metadata
from pathlib import Path

from bot.config import ConfigError, load_settings, warnings
from bot.ops.logs import configure as configure_logging


def _version() -> str:
    try:
        return metadata.version("samverkan-bot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samverkan-bot", description="Samverkan bot: a Matrix bot for "
                                     "regional crisis collaboration (convening by function, meetings, lägesbild).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="json: one object per line, for a log collector")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot")
    run.add_argument("--config", required=True, help="path to the TOML configuration")
    check = sub.add_parser("check-config", help="validate a configuration and list every error")
    check.add_argument("path")
    health = sub.add_parser("health", help="exit 0 if the database is readable and the bot synced lately")
    health.add_argument("--config", required=True, help="path to the TOML configuration")
    backup = sub.add_parser("backup", help="copy the database while the bot runs (SQLite online backup)")
    backup.add_argument("--config", required=True, help="path to the TOML configuration")
    backup.add_argument("path", help="the new file to write")
    migrate = sub.add_parser("migrate", help="bring the database to this version's schema (the bot also does at start)")
    migrate.add_argument("--config", required=True, help="path to the TOML configuration")
    migrate.add_argument("--sql", action="store_true", help="print the SQL for a database administrator instead")
    ics = sub.add_parser("ics", help="write a forum's upcoming meetings as iCalendar")
    ics.add_argument("--config", required=True, help="path to the TOML configuration")
    ics.add_argument("--forum", required=True, help="forum id or name")
    ics.add_argument("--output", help="file to write (default: standard output)")
    export = sub.add_parser("export", help="write an event's record for the registry and the evaluation")
    export.add_argument("--config", required=True, help="path to the TOML configuration")
    export.add_argument("--event", required=True, help="the event's name, as activated (e.g. snöoväder)")
    export.add_argument("--format", default="html", choices=["html", "json"])
    export.add_argument("--output", help="file to write (default: standard output)")
    roster = sub.add_parser("roster", help="duty schedules kept in a spreadsheet")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    imports = roster_sub.add_parser("import", help="read a CSV export (start, end, person) as a function's schedule")
    imports.add_argument("file", help="the CSV file: a header row start, end, person, then one shift a row")
    imports.add_argument("--function", required=True, help="the function's id, e.g. nacka-tib")
    imports.add_argument("--config", required=True, help="path to the TOML configuration")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    if args.command == "check-config":
        try:
            settings = load_settings(args.path)
        except ConfigError as exc:
            print(f"{args.path}: {len(exc.errors)} error(s)", file=sys.stderr)
            for error in exc.errors:
                print(f"  {error}", file=sys.stderr)
            return 1
        from bot.ops.health import moved_warnings, room_moves

        found = warnings(settings) + moved_warnings(settings, asyncio.run(room_moves(settings)))
        for warning in found:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"OK: {settings.summary()}" + (f"; {len(found)} warning(s)" if found else ""))
        return 0
    if args.command == "run":
        from bot.app import App
        from bot.matrix.session import LoginFailed
        from bot.runtime.lease import LeaseLost
        from bot.state.db import SchemaError

        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            print(f"{args.config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
            return 1
        for warning in warnings(settings):
            logging.getLogger("bot.config").warning("%s: %s", args.config, warning)
        try:
            asyncio.run(App(settings, config_path=Path(args.config)).run())
        except ConfigError as exc:
            print(f"{args.config}: cannot start:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
            return 1
        except (LoginFailed, SchemaError) as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 1
        except LeaseLost as exc:
            print(f"stopped: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "migrate":
        return _migrate(args.config, args.sql)
    if args.command == "health":
        from bot.ops.health import check

        try:
            healthy, why = asyncio.run(check(load_settings(args.config)))
        except ConfigError as exc:
            print(f"{args.config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
            return 1
        print(why)
        return 0 if healthy else 1
    if args.command == "backup":
        return _backup(args.config, args.path)
    if args.command == "ics":
        return _ics(args.config, args.forum, args.output)
    if args.command == "export":
        return _export(args.config, args.event, args.format, args.output)
    if args.command == "roster":
        return _roster_import(args.config, Path(args.file), args.function)
    return 2


def _roster_import(config: str, path: Path, function_id: str) -> int:
    from bot.ops.roster_import import RosterRefused, import_file

    try:
        text = path.read_text(encoding="utf-8-sig")
        count = asyncio.run(import_file(load_settings(config), path.name, text, function_id))
    except ConfigError as exc:
        print(f"{config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 1
    except RosterRefused as exc:
        print(f"{path}: nothing imported:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{path}: cannot read the file ({exc.strerror})", file=sys.stderr)
        return 1
    print(f"{count} shifts imported for {function_id}; the bot uses them within the hour (at once after a restart)")
    return 0


def _backup(config: str, path: str) -> int:
    from bot.ops.backup import backup, sqlite_path

    try:
        settings = load_settings(config)
        result = backup(sqlite_path(settings.database.url), Path(path))
    except ConfigError as exc:
        print(f"{config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup written to {path}; integrity check: {result}")
    return 0 if result == "ok" else 1


def _migrate(config: str, sql: bool) -> int:
    from bot.state.db import Database, SchemaError
    from bot.state.migrate import migration_sql

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"{config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 1
    if sql:
        print(migration_sql(settings.database.url))
        return 0

    async def run() -> list[str]:
        db = Database(settings.database.url)
        try:
            return await db.migrate()
        finally:
            await db.close()

    try:
        applied = asyncio.run(run())
    except SchemaError as exc:
        print(f"cannot migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrated: {', '.join(applied)}" if applied else "the database is up to date")
    return 0


def _ics(config: str, forum_name: str, output: str | None) -> int:
    """The calendar of one forum, with the moves and cancellations in the bot's database."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.domain.directory import Directory
    from bot.domain.schedule import Change, forum_occurrences
    from bot.ops.ics import HORIZON, calendar
    from bot.state import meetings
    from bot.state.db import Database

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"{config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 1
    forum = Directory.build(settings).forums.get(forum_name)
    if forum is None:
        print(f"unknown forum {forum_name!r}; forums: {', '.join(f.id for f in settings.forums)}", file=sys.stderr)
        return 1

    url = settings.database.url
    # A database that does not exist yet means no bot has run: nothing is moved or cancelled.
    fresh = url.startswith("sqlite") and not Path(url.split(":///", 1)[-1]).exists()

    async def changes() -> list[Change]:
        if fresh:
            return []
        db = Database(url)
        try:
            await db.migrate()
            async with db.session() as session:
                return await meetings.changes(session)
        finally:
            await db.close()

    now = datetime.now(UTC)
    found = forum_occurrences(forum, now, now + HORIZON, ZoneInfo(settings.bot.timezone), asyncio.run(changes()))
    text = calendar(forum, found, now)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _export(config: str, event: str, form: str, output: str | None) -> int:
    """The same record `!export` sends, read from the bot's database (the bot may be running)."""
    from datetime import UTC, datetime

    from bot.domain.clock import SystemClock
    from bot.domain.directory import Directory
    from bot.flows.context import Context
    from bot.flows.record import Record, event_record
    from bot.messages import Incoming
    from bot.state import formed
    from bot.state.db import Database

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"{config}: configuration errors:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 1
    url = settings.database.url
    if url.startswith("sqlite") and not Path(url.split(":///", 1)[-1]).exists():
        print(f"no database at {url.split(':///', 1)[-1]}: the bot has not run with this configuration",
              file=sys.stderr)
        return 1

    async def build() -> Record | None:
        db = Database(url)
        try:
            async with db.session() as session:
                asker = Incoming(room_id="", sender="", event_id="export", body="", sent_at=datetime.now(UTC))
                named = [formed.as_forum(row) for row in await formed.everything(session)]  # for their names
                ctx = Context(asker, session, Directory.build(settings, named), SystemClock(), settings.bot.language)
                return await event_record(ctx, event)
        finally:
            await db.close()

    record = asyncio.run(build())
    if record is None:
        print(f"no activation for the event {event!r}", file=sys.stderr)
        return 1
    text = record.html() if form == "html" else record.json() + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
