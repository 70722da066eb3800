"""The feedback store: one append-only SQLite table of 👍/👎/"more like this"/"not interested".

Durability: the database runs in WAL mode with `synchronous=FULL`, and `record` returns only
after its transaction is committed, so an event acknowledged to a client is in the WAL on disk
and survives `kill -9` of the server (tests/test_feedback.py kills one to check).

Append-only: rows are never updated (a trigger refuses UPDATE); a change of mind is a new event
and the latest one per (session, item) wins on export. The one exception is privacy: `forget`
deletes every event of a session (DELETE /v1/sessions/{id}), with `secure_delete` on and the
WAL checkpointed so the deleted rows do not linger in the files.

`export_feedback` turns the events into interactions that `convrec build-index` learns from: a
catalogue snapshot (items.jsonl + interactions.csv.gz) holding the indexed catalogue plus one new
user per session, or just the feedback rows as a ratings CSV. One session adds at most
`feedback_export_per_session` interactions (its latest; 50 by default), so that a script
clicking through the catalogue cannot outweigh real people in what is learnt.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

ACTIONS = ("like", "dislike", "more_like", "not_interested")
POSITIVE = frozenset({"like", "more_like"})
STEERING = frozenset({"more_like", "not_interested"})  # these also answer with the next turn
RATING = {"like": 5.0, "more_like": 5.0, "dislike": 1.0, "not_interested": 1.0}  # on MovieLens' 0.5-5 scale
DEFAULT_DB = Path("feedback") / "feedback.sqlite3"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ({", ".join(repr(a) for a in ACTIONS)})),
    position INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id);
CREATE TRIGGER IF NOT EXISTS events_append_only BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'feedback events are append-only'); END;
"""


@dataclass(frozen=True)
class Event:
    id: int
    session_id: str
    item_id: int
    action: str
    position: int | None
    created_at: float


def default_db(settings: Any = None) -> Path:
    """`settings.feedback_db` when the settings have one, else $CONVREC_FEEDBACK_DB, else feedback/feedback.sqlite3."""
    configured = getattr(settings, "feedback_db", None)
    return Path(configured or os.environ.get("CONVREC_FEEDBACK_DB") or DEFAULT_DB)


class FeedbackStore:
    """Thread-safe: one connection, one lock; each `record` is its own committed transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, session_id: str, item_id: int, action: str, position: int | None = None) -> Event:
        """Append one event; when this returns, the event is committed to disk."""
        if action not in ACTIONS:
            raise ValueError(f"unknown feedback action {action!r}; expected one of {', '.join(ACTIONS)}")
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO events (session_id, item_id, action, position, created_at) VALUES (?, ?, ?, ?, ?)",
                (session_id, int(item_id), action, position, now),
            )
        assert cur.lastrowid is not None  # set by every INSERT
        return Event(cur.lastrowid, session_id, int(item_id), action, position, now)

    def events(self, session_id: str | None = None) -> list[Event]:
        query = "SELECT id, session_id, item_id, action, position, created_at FROM events"
        args: tuple = ()
        if session_id is not None:
            query, args = query + " WHERE session_id = ?", (session_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [Event(*row) for row in rows]

    def count(self, session_id: str | None = None) -> int:
        with self._lock:
            if session_id is None:
                return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])
            return int(
                self._db.execute("SELECT count(*) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
            )

    def forget(self, session_id: str) -> int:
        """Delete every event of one session (the privacy exception to append-only); returns how many."""
        with self._lock:
            n = self._db.execute("DELETE FROM events WHERE session_id = ?", (session_id,)).rowcount
            if n:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(n)


def read_events(path: str | Path) -> pd.DataFrame:
    """All events of a store, read-only (safe while a server is writing to it)."""
    path = Path(path)
    if not path.is_file():
        from convrec.core.errors import ConvrecError

        raise ConvrecError(
            f"{path}: no feedback database; it is created by `convrec serve` when someone gives feedback."
        )
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return pd.read_sql_query(
            "SELECT id, session_id, item_id, action, position, created_at FROM events ORDER BY id", db
        )


def feedback_interactions(events: pd.DataFrame, first_user_id: int, max_per_session: int | None = None) -> pd.DataFrame:
    """One interaction per (session, item), from its latest event, and at most `max_per_session`
    per session (the latest; None: all); sessions become users `first_user_id`,
    `first_user_id + 1`, ... in order of their first event.

    >>> ev = pd.DataFrame({"id": [1, 2, 3], "session_id": ["a", "b", "a"], "item_id": [7, 7, 7],
    ...                    "action": ["like", "dislike", "not_interested"], "position": [1, 1, 1],
    ...                    "created_at": [10.0, 11.0, 12.0]})
    >>> feedback_interactions(ev, 1000).to_dict("records")
    [{'user_id': 1000, 'item_id': 7, 'rating': 1.0, 'timestamp': 12}, {'user_id': 1001, 'item_id': 7, 'rating': 1.0, 'timestamp': 11}]
    """
    if events.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in (("user_id", "int64"), ("item_id", "int64"), ("rating", "float32"), ("timestamp", "int64"))
            }
        )
    latest = events.sort_values("id").drop_duplicates(["session_id", "item_id"], keep="last")
    if max_per_session is not None:
        latest = latest.groupby("session_id", sort=False).tail(max_per_session)
    users = {sid: first_user_id + n for n, sid in enumerate(dict.fromkeys(events.sort_values("id")["session_id"]))}
    out = pd.DataFrame(
        {
            "user_id": latest["session_id"].map(users).astype("int64"),
            "item_id": latest["item_id"].astype("int64"),
            "rating": latest["action"].map(RATING).astype("float32"),
            "timestamp": latest["created_at"].astype("int64"),
        }
    )
    return out.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def export_feedback(
    db: str | Path,
    index_dir: str | Path,
    out: str | Path,
    *,
    ratings_only: bool = False,
    max_per_session: int | None = None,
) -> dict[str, Any]:
    """Write the feedback as interactions `build-index` can learn from; returns a summary.

    Default: a catalogue snapshot in `out/` = the catalogue indexed in `index_dir` plus the
    feedback (train with `convrec --dataset OUT build-index`). `ratings_only`: `out` is a CSV of
    just the feedback rows (user_id,item_id,rating,timestamp). Items no longer in the
    catalogue are dropped and counted, and so are a session's interactions beyond
    `max_per_session` (default: the setting `feedback_export_per_session`; 0: no cap).
    """
    from convrec.core.config import Settings
    from convrec.data.catalog import Catalog

    cap = Settings().feedback_export_per_session if max_per_session is None else max_per_session
    catalog = Catalog.load(Path(index_dir) / "catalog")
    events = read_events(db)
    known = events["item_id"].isin(list(catalog.items))
    first_user = int(catalog.interactions["user_id"].max()) + 1 if len(catalog.interactions) else 1
    uncapped = len(feedback_interactions(events[known], first_user))
    rows = feedback_interactions(events[known], first_user, cap or None)
    out = Path(out)
    if ratings_only:
        out.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(out, index=False)
    else:
        merged = pd.concat([catalog.interactions, rows], ignore_index=True)
        Catalog(f"{catalog.name} + feedback", catalog.items, merged).save(out)
    return {
        "events": len(events),
        "unknown_items_dropped": int((~known).sum()),
        "over_session_cap_dropped": uncapped - len(rows),
        "sessions": int(rows["user_id"].nunique()),
        "interactions": len(rows),
        "positive": int((rows["rating"] >= 3.5).sum()),
        "out": str(out),
    }


# -- CLI ------------------------------------------------------------------------------------


def cmd_export_feedback(args: argparse.Namespace) -> int:
    from convrec.core.config import settings_from_args

    settings = settings_from_args(args)
    out = args.out or (Path("feedback") / ("ratings.csv" if args.ratings_only else "catalog"))
    summary = export_feedback(
        args.db or default_db(settings),
        settings.index_dir,
        out,
        ratings_only=args.ratings_only,
        max_per_session=args.max_per_session,
    )
    print(
        f"exported {summary['interactions']:,} interactions ({summary['positive']:,} positive) from "
        f"{summary['sessions']:,} sessions ({summary['events']:,} events, {summary['unknown_items_dropped']} for unknown items dropped, "
        f"{summary['over_session_cap_dropped']:,} over the cap per session dropped) to {summary['out']}"
    )
    if not args.ratings_only:
        print(f"learn from them with: convrec --dataset {summary['out']} build-index")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export-feedback", help="write the chat feedback as interactions build-index can learn from"
    )
    p.add_argument("--db", type=Path, help=f"the feedback database (default: $CONVREC_FEEDBACK_DB or {DEFAULT_DB})")
    p.add_argument(
        "--out", type=Path, help="output directory (snapshot) or CSV file (--ratings-only); default under feedback/"
    )
    p.add_argument(
        "--ratings-only",
        action="store_true",
        help="write only the feedback rows, as user_id,item_id,rating,timestamp CSV",
    )
    p.add_argument(
        "--max-per-session",
        type=int,
        help="most interactions one session adds, its latest (default: $CONVREC_FEEDBACK_EXPORT_PER_SESSION or 50; 0: all)",
    )
    p.set_defaults(func=cmd_export_feedback)
