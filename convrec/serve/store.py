"""One interface for what must outlive a server process: conversations and their feedback.

`Store` holds the SQL, written once for both databases; a subclass only connects and runs a
transaction:
- `SQLiteStore` (sqlite_store.py), the default: one file (`--feedback-db`, default
  feedback/feedback.sqlite3) in WAL mode with synchronous=FULL; processes on one machine may share it.
- `PostgresStore` (postgres_store.py), when `CONVREC_DB_URL=postgresql://...`: any number of
  `convrec serve` replicas, on any machines, share it.
`db.open_store` picks one.

Three tables, the same in both:
- `events`: the feedback, append-only (a trigger refuses UPDATE); a change of mind is a new event.
  The one exception is privacy: `forget` deletes a session's events. Each names its `client` (a
  keyed hash, `sessions.client_key`), so that learning counts clients, not conversations; events
  stored before the column existed have none (`migrate` adds it to an older database).
- `sessions`: one row per conversation: its `Session` as JSON, who opened it (the same key, for
  the per-client limit), `last_used` (wall-clock seconds) by which any replica expires it, and a `version` that
  every save bumps. A save names the version it started from; if another request saved in
  between (on this replica or another) it changes nothing and says so, so a turn can never
  overwrite one it did not see.
- `pending`: feedback not yet folded into its session's JSON. A rating is written here in its
  own event's transaction (so a 👍 given while a turn runs elsewhere cannot be lost or
  overwritten); every load folds the pending rows into the session it returns, and the next
  save deletes the ones it folded, in the same transaction.

Every method is one transaction, committed before it returns: what a server acknowledges is in
the database, whatever happens to the server afterwards. A method waits at most `timeout_s` for
the database (a lock, a connection), then raises StoreUnavailable.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

ACTIONS = ("like", "dislike", "more_like", "not_interested")
POSITIVE = frozenset({"like", "more_like"})
STEERING = frozenset({"more_like", "not_interested"})  # these also answer with the next turn

# {id}: an auto-numbered primary key; {int}: a 64-bit integer; {real}: a double (a subclass fills them in)
TABLES = f"""
CREATE TABLE IF NOT EXISTS events (
    id {{id}},
    session_id TEXT NOT NULL,
    item_id {{int}} NOT NULL,
    action TEXT NOT NULL CHECK (action IN ({", ".join(repr(a) for a in ACTIONS)})),
    position INTEGER,
    created_at {{real}} NOT NULL,
    client TEXT
);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    client TEXT,
    data TEXT NOT NULL,
    version {{int}} NOT NULL,
    last_used {{real}} NOT NULL,
    created_at {{real}} NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_last_used ON sessions (last_used);
CREATE INDEX IF NOT EXISTS sessions_client ON sessions (client, last_used);
CREATE TABLE IF NOT EXISTS pending (
    event_id {{int}} PRIMARY KEY,
    session_id TEXT NOT NULL,
    item_id {{int}} NOT NULL,
    liked INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_session ON pending (session_id);
"""

EVENT_COLUMNS = "id, session_id, item_id, action, position, created_at, client"
MIGRATION = "ALTER TABLE events ADD COLUMN client TEXT"  # to a database made before events named their client


@dataclass(frozen=True)
class Event:
    """One stored feedback event."""

    id: int
    session_id: str
    item_id: int
    action: str
    position: int | None
    created_at: float
    client: str | None = None  # who gave it (`sessions.client_key`); None: not known


@dataclass(frozen=True)
class Pending:
    """A rating stored but not yet folded into its session's saved JSON."""

    event_id: int
    item_id: int
    liked: bool


@dataclass
class StoredSession:
    """A conversation as loaded: its `Session.to_dict()` (pending ratings not yet applied), the
    version a save must name, and the pending ratings in the order they were given."""

    sid: str
    data: dict[str, Any]
    version: int
    client: str | None
    last_used: float
    pending: list[Pending]


class Cursor(Protocol):
    """What a transaction yields: `execute` with `?` placeholders, returning a DB-API cursor."""

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Any: ...


class Store(ABC):
    """Sessions and feedback in one database; thread-safe; every method one committed transaction."""

    where: str  # for messages and /healthz: a file path, or a URL without its password
    timeout_s: float  # how long a method waits for the database before StoreUnavailable

    @abstractmethod
    def _tx(self, write: bool = True, timeout_s: float | None = None) -> AbstractContextManager[Cursor]:
        """A transaction: committed when the block ends, rolled back if it raises; StoreUnavailable
        when the database is not had within `timeout_s` (None: `self.timeout_s`)."""

    @abstractmethod
    def close(self) -> None: ...

    # -- conversations ---------------------------------------------------------------------
    def create_session(self, sid: str, client: str | None, data: dict[str, Any], now: float) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO sessions (id, client, data, version, last_used, created_at) VALUES (?, ?, ?, 0, ?, ?)",
                (sid, client, dumps(data), now, now),
            )

    def load_session(self, sid: str) -> StoredSession | None:
        """The conversation with its pending ratings (one statement, so one consistent snapshot)."""
        with self._tx(write=False) as cur:
            rows = cur.execute(
                "SELECT s.data, s.version, s.client, s.last_used, p.event_id, p.item_id, p.liked "
                "FROM sessions s LEFT JOIN pending p ON p.session_id = s.id WHERE s.id = ? ORDER BY p.event_id",
                (sid,),
            ).fetchall()
        if not rows:
            return None
        data, version, client, last_used = rows[0][:4]
        pending = [Pending(int(r[4]), int(r[5]), bool(r[6])) for r in rows if r[4] is not None]
        return StoredSession(sid, json.loads(data), int(version), client, float(last_used), pending)

    def save_session(
        self, sid: str, data: dict[str, Any], version: int, now: float, applied: Sequence[int] = ()
    ) -> bool:
        """Store the conversation if it is still at `version`, and delete the pending ratings it
        folded in (`applied`); False (and nothing changed) if it was saved by someone else
        since, or is gone."""
        with self._tx() as cur:
            updated = cur.execute(
                "UPDATE sessions SET data = ?, version = version + 1, last_used = ? WHERE id = ? AND version = ?",
                (dumps(data), now, sid, version),
            ).rowcount
            if updated and applied:
                marks = ", ".join("?" * len(applied))
                cur.execute(f"DELETE FROM pending WHERE session_id = ? AND event_id IN ({marks})", (sid, *applied))
        return bool(updated)

    def touch_session(self, sid: str, now: float) -> None:
        """Mark the conversation as used `now` (for idle expiry)."""
        with self._tx() as cur:
            cur.execute("UPDATE sessions SET last_used = ? WHERE id = ?", (now, sid))

    def delete_session(self, sid: str) -> bool:
        """Drop the conversation and its pending ratings; its feedback events stay."""
        with self._tx() as cur:
            n = cur.execute("DELETE FROM sessions WHERE id = ?", (sid,)).rowcount
            cur.execute("DELETE FROM pending WHERE session_id = ?", (sid,))
        return bool(n)

    def expire_sessions(self, idle_since: float, keep: Collection[str] = ()) -> int:
        """Drop the conversations last used before `idle_since`, except `keep`; returns how many."""
        marks = ", ".join("?" * len(keep))
        spare = f" AND id NOT IN ({marks})" if keep else ""
        with self._tx() as cur:
            n = cur.execute(f"DELETE FROM sessions WHERE last_used < ?{spare}", (idle_since, *keep)).rowcount
            cur.execute(
                "DELETE FROM pending WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = pending.session_id)"
            )
        return int(n)

    def count_sessions(
        self, idle_since: float, client: str | None = None, timeout_s: float | None = None
    ) -> tuple[int, float | None]:
        """(conversations used since `idle_since`, the oldest one's last use), of `client` if given;
        waiting at most `timeout_s` (None: `self.timeout_s`)."""
        args: list[Any]
        query, args = "SELECT count(*), min(last_used) FROM sessions WHERE last_used >= ?", [idle_since]
        if client is not None:
            query, args = query + " AND client = ?", [idle_since, client]
        with self._tx(write=False, timeout_s=timeout_s) as cur:
            n, oldest = cur.execute(query, args).fetchone()
        return int(n), None if oldest is None else float(oldest)

    # -- feedback ----------------------------------------------------------------------------
    def record(
        self, session_id: str, item_id: int, action: str, position: int | None = None, client: str | None = None
    ) -> Event:
        """Append one event (of `client`); when this returns, it is committed."""
        check_action(action)
        with self._tx() as cur:
            return self._insert_event(cur, session_id, item_id, action, position, client)

    def record_in_session(
        self, sid: str, item_id: int, action: str, position: int | None, now: float, client: str | None = None
    ) -> Event | None:
        """Append one event of `client` in a live conversation and queue it for the conversation (pending),
        marking it used; None, and nothing written, when the conversation is gone. A deletion
        racing with this wins either way: it comes first, or it waits for this and removes it."""
        check_action(action)
        with self._tx() as cur:
            if not cur.execute("UPDATE sessions SET last_used = ? WHERE id = ?", (now, sid)).rowcount:
                return None
            event = self._insert_event(cur, sid, item_id, action, position, client)
            cur.execute(
                "INSERT INTO pending (event_id, session_id, item_id, liked) VALUES (?, ?, ?, ?)",
                (event.id, sid, event.item_id, int(action in POSITIVE)),
            )
        return event

    def _insert_event(
        self, cur: Cursor, sid: str, item_id: int, action: str, position: int | None, client: str | None
    ) -> Event:
        now = time.time()
        row = cur.execute(
            "INSERT INTO events (session_id, item_id, action, position, created_at, client) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (sid, int(item_id), action, position, now, client),
        ).fetchone()
        return Event(int(row[0]), sid, int(item_id), action, position, now, client)

    def events(self, session_id: str | None = None) -> list[Event]:
        query, args = f"SELECT {EVENT_COLUMNS} FROM events", []
        if session_id is not None:
            query, args = query + " WHERE session_id = ?", [session_id]
        with self._tx(write=False) as cur:
            rows = cur.execute(query + " ORDER BY id", args).fetchall()
        return [Event(int(r[0]), r[1], int(r[2]), r[3], r[4], float(r[5]), r[6]) for r in rows]

    def conversations(self) -> list[tuple[str, dict[str, Any], str | None, float]]:
        """Every stored conversation as (session id, its `Session.to_dict()`, its client, its last
        use), oldest first."""
        with self._tx(write=False) as cur:
            rows = cur.execute("SELECT id, data, client, last_used FROM sessions ORDER BY created_at, id").fetchall()
        return [(r[0], json.loads(r[1]), r[2], float(r[3])) for r in rows]

    def count(self, session_id: str | None = None) -> int:
        query, args = "SELECT count(*) FROM events", []
        if session_id is not None:
            query, args = query + " WHERE session_id = ?", [session_id]
        with self._tx(write=False) as cur:
            return int(cur.execute(query, args).fetchone()[0])

    def forget(self, session_id: str) -> int:
        """Delete the conversation and every event it left (the privacy exception to
        append-only); returns how many events."""
        with self._tx() as cur:
            cur.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            cur.execute("DELETE FROM pending WHERE session_id = ?", (session_id,))
            return int(cur.execute("DELETE FROM events WHERE session_id = ?", (session_id,)).rowcount)


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown feedback action {action!r}; expected one of {', '.join(ACTIONS)}")


def dumps(data: dict[str, Any]) -> str:
    """JSON for a session; numpy integers (item ids from an index) become plain ints.

    >>> import numpy as np
    >>> dumps({"shown": [np.int64(3), 4]})
    '{"shown": [3, 4]}'
    """
    return json.dumps(data, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
