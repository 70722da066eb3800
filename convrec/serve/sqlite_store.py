"""The default store: one SQLite file, or memory (a server run without a database, and tests).

Durability: WAL mode with `synchronous=FULL`, and every transaction committed before its
method returns, so what a server acknowledged is in the WAL on disk and survives `kill -9`
(tests/test_feedback.py kills one to check). Several processes on one machine may share the
file: a write takes SQLite's lock at its start (`BEGIN IMMEDIATE`) and waits up to `timeout_s` for
it (reads do not wait for a writer: WAL).
Deleting feedback (`forget`) runs with `secure_delete` on and checkpoints the WAL, so that the
deleted rows do not linger in the files.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from convrec.core.errors import StoreUnavailable
from convrec.serve.store import MIGRATION, TABLES, Cursor, Store

TRIGGER = """
CREATE TRIGGER IF NOT EXISTS events_append_only BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'feedback events are append-only'); END;
"""
MEMORY = ":memory:"


class SQLiteStore(Store):
    """Thread-safe: one connection and one lock per process; each method one committed transaction."""

    def __init__(self, path: str | Path = MEMORY, timeout_s: float = 30.0) -> None:
        self.memory = str(path) == MEMORY
        self.timeout_s = timeout_s
        self.path = Path(path)
        self.where = MEMORY if self.memory else str(path)
        if not self.memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                MEMORY if self.memory else self.path, check_same_thread=False, isolation_level=None, timeout=timeout_s
            )
            if not self.memory:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(TABLES.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", int="INTEGER", real="REAL"))
            self._db.executescript(TRIGGER)
            if "client" not in {row[1] for row in self._db.execute("PRAGMA table_info(events)")}:
                self._db.execute(MIGRATION)
        except sqlite3.Error as e:
            raise StoreUnavailable(
                f"{self.where}: cannot open the SQLite database ({e}); check the path and its permissions."
            ) from e

    @contextmanager
    def _tx(self, write: bool = True, timeout_s: float | None = None) -> Iterator[Cursor]:
        limit = self.timeout_s if timeout_s is None else timeout_s
        start = time.monotonic()
        if not self._lock.acquire(timeout=limit):
            raise StoreUnavailable(f"{self.where}: the SQLite database was busy for {limit:g} s; try again shortly.")
        try:
            left_ms = max(1, int((limit - (time.monotonic() - start)) * 1000))
            self._db.execute(f"PRAGMA busy_timeout = {left_ms}")  # what is left of the wait, for another process's lock
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as e:  # locked past the timeout, disk full, I/O error
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreUnavailable(f"{self.where}: the SQLite database could not be written ({e}).") from e
        finally:
            self._lock.release()

    def forget(self, session_id: str) -> int:
        n = super().forget(session_id)
        if n and not self.memory:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    def close(self) -> None:
        with self._lock:
            self._db.close()
