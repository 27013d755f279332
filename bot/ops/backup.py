"""Online backup of the SQLite database: safe while the bot runs (SQLite's backup API), checked after."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def sqlite_path(url: str) -> Path:
    """The file behind a `sqlite+aiosqlite:///path` URL; ValueError for other databases."""
    if not url.startswith("sqlite") or ":///" not in url:
        raise ValueError(f"online backup is for SQLite files; back up {url.split(':', 1)[0]} with its own tools")
    return Path(url.split(":///", 1)[1])


def backup(source: Path, target: Path) -> str:
    """Copy `source` to `target` page by page while others may write; returns integrity_check's answer."""
    if not source.exists():
        raise FileNotFoundError(f"no database at {source}")
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target) as check:
        result: str = check.execute("PRAGMA integrity_check").fetchone()[0]
    return result
