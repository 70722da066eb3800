"""The store contract, run against both databases: SQLite (a file) and a real PostgreSQL server
(tests/pg.py; these cases skip, saying why, where PostgreSQL is not installed).

Each test opens the same database more than once where replicas matter: two `Store`s on one
database are two servers sharing it.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from convrec.serve.api import create_api
from convrec.serve.db import open_store
from convrec.serve.feedback import export_feedback, read_events
from convrec.serve.service import make_service
from convrec.serve.sessions import SessionNotFound, SessionStore
from convrec.serve.store import Pending

from .test_feedback import write_snapshot
from .test_pipeline import make_recommender

A, B, C = "a" * 22, "b" * 22, "c" * 22


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    """Where a database lives: a SQLite path, or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "convrec.sqlite3"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def open_db(target):
    """Opens a `Store` on the test's database, as often as asked (each one a replica); all closed at the end."""
    opened = []

    def opener():
        opened.append(open_store(target, pool_size=4))
        return opened[-1]

    yield opener
    for store in opened:
        store.close()


def test_a_conversation_saved_by_one_replica_is_read_by_another(open_db):
    one, two = open_db(), open_db()
    one.create_session(A, "203.0.113.7", {"turns": []}, 100.0)
    loaded = two.load_session(A)
    assert (loaded.data, loaded.version, loaded.client, loaded.last_used, loaded.pending) == (
        {"turns": []},
        0,
        "203.0.113.7",
        100.0,
        [],
    )
    assert two.save_session(A, {"turns": [{"user": "a comedy", "items": [1, 2]}]}, 0, 101.0)
    # one saves from the version it read: someone saved since, so nothing is overwritten
    assert not one.save_session(A, {"turns": ["stale"]}, 0, 102.0)
    again = one.load_session(A)
    assert again.version == 1 and again.data["turns"][0]["items"] == [1, 2] and again.last_used == 101.0
    assert one.load_session(B) is None and not one.save_session(B, {}, 0, 1.0)


def test_pending_ratings_stay_until_a_save_folds_them_in(open_db):
    one, two = open_db(), open_db()
    one.create_session(A, None, {}, 100.0)
    first = one.record_in_session(A, 7, "like", 1, 101.0)
    second = two.record_in_session(A, 9, "not_interested", 2, 102.0)
    loaded = two.load_session(A)
    assert loaded.pending == [Pending(first.id, 7, True), Pending(second.id, 9, False)]
    assert loaded.last_used == 102.0  # a rating marks the conversation used
    assert one.save_session(A, {"folded": 1}, 0, 103.0, applied=[first.id])
    assert one.load_session(A).pending == [Pending(second.id, 9, False)]
    # a conversation that is gone takes no rating, and nothing is written
    assert one.record_in_session(B, 7, "like", 1, 104.0) is None
    assert one.count() == 2 and one.count(B) == 0
    with pytest.raises(ValueError, match="unknown feedback action"):
        one.record_in_session(A, 7, "love", 1, 105.0)


def test_idle_conversations_expire_by_their_stored_last_use(open_db):
    one, two = open_db(), open_db()
    for sid, used, client in ((A, 100.0, "x"), (B, 200.0, "x"), (C, 300.0, "y")):
        one.create_session(sid, client, {}, used)
    one.record_in_session(B, 5, "like", 1, 200.0)
    assert two.count_sessions(150.0) == (2, 200.0)
    assert two.count_sessions(0.0, "x") == (2, 100.0) and two.count_sessions(250.0, "x") == (0, None)
    assert two.expire_sessions(250.0, keep=[A]) == 1  # B is idle; A is kept (a turn of it runs somewhere)
    assert one.load_session(B) is None and one.load_session(A) is not None
    with two._tx(write=False) as cur:
        assert cur.execute("SELECT count(*) FROM pending").fetchone()[0] == 0  # B's pending rating went with it
    assert one.count(B) == 1  # its feedback stays: it is training data
    one.touch_session(A, 400.0)
    assert two.expire_sessions(350.0) == 1 and two.load_session(A) is not None and two.load_session(C) is None


def test_delete_keeps_the_feedback_and_forget_removes_it(open_db):
    one, two = open_db(), open_db()
    for sid in (A, B):
        one.create_session(sid, None, {}, 100.0)
        for item in (1, 2, 3):
            one.record_in_session(sid, item, "like", item, 101.0)
    assert two.delete_session(A) and not two.delete_session(A)
    assert one.count(A) == 3 and one.load_session(A) is None
    assert two.forget(A) == 3 and one.count(A) == 0
    assert two.forget(B) == 3 and one.load_session(B) is None and one.count() == 0


def test_events_are_appended_never_updated(open_db):
    store = open_db()
    a = store.record("s1", 3, "like", 1)
    b = store.record("s1", 3, "dislike", 1)  # a change of mind is a new event
    assert b.id > a.id and [(e.id, e.action, e.position) for e in store.events("s1")] == [
        (a.id, "like", 1),
        (b.id, "dislike", 1),
    ]
    with pytest.raises(Exception, match="append-only"), store._tx() as cur:
        cur.execute("UPDATE events SET action = 'like' WHERE id = ?", (b.id,))
    with pytest.raises(Exception, match="(?i)check"), store._tx() as cur:
        cur.execute("INSERT INTO events (session_id, item_id, action, created_at) VALUES ('s', 1, 'love', 0)")
    with pytest.raises(ValueError, match="unknown feedback action"):
        store.record("s1", 3, "love")
    assert store.count() == 2 and [e.action for e in store.events()] == ["like", "dislike"]


def test_concurrent_writers_on_two_replicas_lose_nothing(open_db):
    """8 threads on two stores append 200 events and race to save one conversation: every event
    is kept exactly once, and of the saves that started from the same version exactly one wins."""
    replicas = [open_db(), open_db()]
    replicas[0].create_session(A, None, {}, 1.0)
    got: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        store = replicas[n % 2]
        for k in range(25):
            event = store.record_in_session(A, k, "like", None, 2.0) if k % 5 == 0 else store.record(f"s{n}", k, "like")
            with lock:
                got.append(event.id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 200 and replicas[1].count() == 200
    assert sorted(e.id for e in replicas[0].events()) == sorted(got)
    assert len(replicas[1].load_session(A).pending) == 40

    wins: list[bool] = []
    start = threading.Barrier(8)

    def saver(n: int) -> None:
        start.wait()
        won = replicas[n % 2].save_session(A, {"by": n}, 0, 3.0)
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=saver, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1 and replicas[0].load_session(A).version == 1


def test_session_stores_of_two_replicas_share_conversations_and_expiry(open_db):
    now = [1000.0]
    one = SessionStore(ttl_s=60, clock=lambda: now[0], store=open_db(), max_per_client=2)
    two = SessionStore(ttl_s=60, clock=lambda: now[0], store=open_db(), max_per_client=2)
    sid = one.create("203.0.113.7")
    two.create("203.0.113.7")
    with pytest.raises(Exception, match="2 conversations open"):
        two.create("203.0.113.7")  # the limit per client is counted in the shared store
    live = two.get(sid)
    live.session.record("a comedy", [1, 2, 3])
    two.save(live)
    two.store.record_in_session(sid, 2, "dislike", 2, now[0])
    seen = one.get(sid)
    assert seen.session.shown == [1, 2, 3] and seen.session.needs.disliked == (2,) and len(seen.pending) == 1
    assert len(one) == len(two) == 2
    now[0] += 61  # idle past the ttl on every replica
    with pytest.raises(SessionNotFound, match="expired"):
        two.get(sid)
    assert sid not in one and len(one) == 0


def test_export_reads_either_database(open_db, target, tmp_path):
    store = open_db()
    store.record("a", 12, "like")
    store.record("a", 9, "dislike")
    events = read_events(target)
    assert events["action"].tolist() == ["like", "dislike"] and list(events.columns)[:2] == ["id", "session_id"]
    summary = export_feedback(target, write_snapshot(tmp_path), tmp_path / "ratings.csv", ratings_only=True)
    assert summary["events"] == 2 and summary["interactions"] == 2


def test_turn_latency_through_each_store(open_db, target, capsys):
    """Not a timing assertion: prints what a turn and a rating cost through the REST API over
    this store (tiny catalogue, rules only), for the record; checks that every one was saved."""
    service = make_service(make_recommender(max_sessions_per_client=0), store=open_db())
    client = TestClient(create_api(service))
    sid = client.post("/v1/sessions").json()["session_id"]
    turns, ratings = [], []
    for n in range(20):
        t = time.perf_counter()
        items = client.post(f"/v1/sessions/{sid}/messages", json={"text": "a film", "k": 1}).json()["items"]
        turns.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert client.post(f"/v1/sessions/{sid}/feedback", json={"item_id": items[0]["item_id"], "action": "like"})
        ratings.append(time.perf_counter() - t)
    stored = open_db().load_session(sid)
    assert len(stored.data["turns"]) == 20 and stored.version == 20 and open_db().count(sid) == 20
    kind = "postgresql" if str(target).startswith("postgresql") else "sqlite"
    with capsys.disabled():
        print(
            f"\n[store latency] {kind}: turn p50 {statistics.median(turns) * 1000:.1f} ms, "
            f"max {max(turns) * 1000:.1f} ms; rating p50 {statistics.median(ratings) * 1000:.1f} ms, "
            f"max {max(ratings) * 1000:.1f} ms (20 each)"
        )


def test_conversations_and_their_ratings_become_dialogues(open_db):
    from convrec.serve.learn import LEGACY, store_dialogues

    db = open_db()
    db.create_session(A, "c1", {"needs": {"liked": [12]}}, 1.0)  # named in a message
    db.create_session(B, "c1", {}, 2.0)  # nothing liked: no dialogue
    db.record(A, 13, "like", 1)
    db.record(A, 16, "more_like", 2)
    db.record(C, 5, "like", 1)  # its conversation expired; its ratings still count
    assert db.conversations() == [(A, {"needs": {"liked": [12]}}, "c1", 1.0), (B, {}, "c1", 2.0)]
    assert [(d.id, d.turns, client) for d, (client, _) in store_dialogues(db, cap=None, window_s=86400.0)] == [
        (A, (("seeker", (12,)), ("recommender", (13,)), ("recommender", (16,))), "c1"),  # the conversation's
        (C, (("recommender", (5,)),), LEGACY),
    ]


def test_a_database_made_before_events_named_their_client_is_migrated(target, open_db):
    identity = (
        "INTEGER PRIMARY KEY AUTOINCREMENT"
        if isinstance(target, Path)
        else "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    )
    old = (
        f"CREATE TABLE events (id {identity}, session_id TEXT NOT NULL, item_id BIGINT NOT NULL, action TEXT NOT NULL, "
        "position INTEGER, created_at DOUBLE PRECISION NOT NULL)"
    )
    insert = f"INSERT INTO events (session_id, item_id, action, position, created_at) VALUES ('{A}', 5, 'like', 1, 1.0)"
    if isinstance(target, Path):
        with sqlite3.connect(target) as con:
            con.execute(old)
            con.execute(insert)
    else:
        import psycopg

        with psycopg.connect(target) as con:
            con.execute(old.encode())
            con.execute(insert.encode())
    db = open_db()
    db.record(B, 6, "like", 1, client="c-0123456789abcdef")
    assert [(e.session_id, e.item_id, e.client) for e in db.events()] == [(A, 5, None), (B, 6, "c-0123456789abcdef")]
    assert [e.client for e in open_db().events()] == [None, "c-0123456789abcdef"]  # opening it again changes nothing
