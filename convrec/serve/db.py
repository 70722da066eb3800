"""Which store a server or a command uses: PostgreSQL when `CONVREC_DB_URL` names one, else a SQLite file.

open_store("postgresql://convrec:PASSWORD@db:5432/convrec")  -> PostgresStore (shared by replicas)
open_store("feedback/feedback.sqlite3")                      -> SQLiteStore (one machine)
open_store(None)                                             -> SQLiteStore in memory (lost on exit)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convrec.serve.postgres_store import PostgresStore, is_postgres_url
from convrec.serve.sqlite_store import MEMORY, SQLiteStore
from convrec.serve.store import Store

DEFAULT_DB = Path("feedback") / "feedback.sqlite3"


def default_db(settings: Any = None) -> Path:
    """`settings.feedback_db` when the settings have one, else $CONVREC_FEEDBACK_DB, else feedback/feedback.sqlite3."""
    configured = getattr(settings, "feedback_db", None)
    return Path(configured or os.environ.get("CONVREC_FEEDBACK_DB") or DEFAULT_DB)


def db_target(settings: Any = None, feedback_db: str | Path | None = None) -> str | Path:
    """Where the data lives: the settings' `db_url` when set, else `feedback_db`, else `default_db`."""
    url = getattr(settings, "db_url", "") or os.environ.get("CONVREC_DB_URL", "")
    return url or feedback_db or default_db(settings)


def open_store(target: str | Path | None, *, pool_size: int = 10, timeout_s: float = 30.0) -> Store:
    """A PostgreSQL URL (`postgresql://...`), a SQLite path or `sqlite:///path`, or None for memory;
    its methods wait at most `timeout_s` for the database (a server passes `Settings.store_timeout_s`)."""
    if target is None or str(target) == MEMORY:
        return SQLiteStore(MEMORY, timeout_s)
    if is_postgres_url(target):
        return PostgresStore(str(target), pool_size=pool_size, timeout_s=timeout_s)
    path = str(target)
    return SQLiteStore(
        Path(path.removeprefix("sqlite:///")) if path.startswith("sqlite:///") else Path(path), timeout_s
    )
