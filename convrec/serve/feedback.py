"""Feedback: what 👍/👎/"more like this"/"not interested" become, and their export for training.

The events are kept by the store (`store.Store`: SQLite by default, PostgreSQL when
`CONVREC_DB_URL` names one), append-only, each committed before it is acknowledged; a change of
mind is a new event and the latest one per (session, item) wins on export. `FeedbackStore` is the
SQLite store under its old name.

`export_feedback` turns the events into interactions that `convrec build-index` learns from: a
catalogue snapshot (items.jsonl + interactions.csv.gz) holding the indexed catalogue plus one new
user per session, or just the feedback rows as a ratings CSV. One session adds at most
`feedback_export_per_session` interactions (its latest; 50 by default), so that a script
clicking through the catalogue cannot outweigh real people in what is learnt.
"""

from __future__ import annotations

import argparse
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from convrec.core.errors import ConvrecError
from convrec.serve.db import DEFAULT_DB, db_target, default_db
from convrec.serve.postgres_store import PostgresStore, is_postgres_url
from convrec.serve.sqlite_store import SQLiteStore
from convrec.serve.store import ACTIONS, POSITIVE, STEERING, Event

__all__ = ["ACTIONS", "DEFAULT_DB", "POSITIVE", "RATING", "STEERING", "Event", "FeedbackStore", "default_db"]

RATING = {"like": 5.0, "more_like": 5.0, "dislike": 1.0, "not_interested": 1.0}  # on MovieLens' 0.5-5 scale
EVENT_FIELDS = ["id", "session_id", "item_id", "action", "position", "created_at"]

FeedbackStore = SQLiteStore


def read_events(db: str | Path) -> pd.DataFrame:
    """All events of a store, oldest first: a SQLite file (opened read-only, so safe while a
    server writes to it) or a PostgreSQL URL."""
    if is_postgres_url(db):
        store = PostgresStore(str(db), pool_size=1)
        try:
            events = store.events()
        finally:
            store.close()
        return pd.DataFrame([asdict(e) for e in events], columns=EVENT_FIELDS)
    path = Path(str(db).removeprefix("sqlite:///"))
    if not path.is_file():
        raise ConvrecError(
            f"{path}: no feedback database; it is created by `convrec serve` when someone gives feedback."
        )
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return pd.read_sql_query(f"SELECT {', '.join(EVENT_FIELDS)} FROM events ORDER BY id", con)


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
        args.db or db_target(settings),
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
    p.add_argument(
        "--db",
        help=f"the feedback database: a SQLite file or a postgresql:// URL (default: $CONVREC_DB_URL, "
        f"else $CONVREC_FEEDBACK_DB, else {DEFAULT_DB})",
    )
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
