import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from convrec.data.loaders import load_catalog
from convrec.retrieve.cf import ItemKNN
from convrec.serve.feedback import FeedbackStore, export_feedback, read_events
from convrec.testing import tiny_catalog

REPO = Path(__file__).resolve().parents[1]


def test_events_are_appended_never_updated(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    a = store.record("s1", 3, "like", 1)
    b = store.record("s1", 3, "dislike", 1)  # a change of mind is a new event
    assert b.id > a.id and [e.action for e in store.events("s1")] == ["like", "dislike"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._db.execute("UPDATE events SET action = 'like' WHERE id = ?", (b.id,))
    with pytest.raises(sqlite3.IntegrityError):
        store._db.execute("INSERT INTO events (session_id, item_id, action, created_at) VALUES ('s', 1, 'love', 0)")
    with pytest.raises(ValueError, match="unknown feedback action"):
        store.record("s1", 3, "love")
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    sync = store._db.execute("PRAGMA synchronous").fetchone()[0]
    assert mode == "wal" and sync == 2  # 2 = FULL


def test_forget_deletes_one_sessions_events_only(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    for item in (1, 2, 3):
        store.record("gone", item, "like")
    store.record("stays", 1, "dislike")
    assert store.forget("gone") == 3 and store.forget("gone") == 0
    assert store.count() == 1 and store.events()[0].session_id == "stays"
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("fb.sqlite3*"))
    assert b"stays" in raw and b"gone" not in raw  # secure_delete + checkpoint: nothing left in the files


def write_snapshot(tmp_path):
    index_dir = tmp_path / "index"
    tiny_catalog().save(index_dir / "catalog")
    return index_dir


def test_export_is_a_catalogue_that_build_index_can_load_and_learn_from(tmp_path):
    index_dir = write_snapshot(tmp_path)
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    # Two people who liked a western also liked the sci-fi "Robot Dawn" (16); nobody in the
    # tiny catalogue's data did, so item-kNN learns a new neighbour from the feedback alone.
    for sid in ("a", "b"):
        store.record(sid, 12, "like")
        store.record(sid, 16, "more_like")
    store.record("c", 16, "like")
    store.record("c", 16, "not_interested")  # the latest event per item wins
    store.record("c", 424242, "like")  # no longer in the catalogue: dropped and counted
    summary = export_feedback(tmp_path / "fb.sqlite3", index_dir, tmp_path / "out")
    assert summary == {
        "events": 7,
        "unknown_items_dropped": 1,
        "over_session_cap_dropped": 0,
        "sessions": 3,
        "interactions": 5,
        "positive": 4,
        "out": str(tmp_path / "out"),
    }

    merged = load_catalog(tmp_path / "out")  # what `convrec --dataset out build-index` reads
    before = tiny_catalog()
    assert len(merged.interactions) == len(before.interactions) + 5
    new = merged.interactions[merged.interactions["user_id"] > before.interactions["user_id"].max()]
    assert sorted(new["user_id"].unique()) == [31, 32, 33]
    assert new[(new.user_id == 33) & (new.item_id == 16)]["rating"].tolist() == [1.0]

    ids = before.ids()
    old_sim = ItemKNN().fit(before.interactions, ids).score([12])
    new_sim = ItemKNN().fit(merged.interactions, ids).score([12])
    row = list(ids).index(16)
    assert old_sim[row] == 0 and new_sim[row] > 0


def test_export_ratings_only_csv(tmp_path):
    index_dir = write_snapshot(tmp_path)
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.record("a", 12, "like")
    store.record("a", 9, "dislike")
    export_feedback(tmp_path / "fb.sqlite3", index_dir, tmp_path / "ratings.csv", ratings_only=True)
    df = pd.read_csv(tmp_path / "ratings.csv")
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert df[["item_id", "rating"]].values.tolist() == [[9, 1.0], [12, 5.0]]


def test_export_cli(tmp_path):
    index_dir = write_snapshot(tmp_path)
    FeedbackStore(tmp_path / "fb.sqlite3").record("a", 12, "like")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import argparse, sys; from convrec.serve.feedback import add_cli; p = argparse.ArgumentParser();"
            "p.add_argument('--index-dir'); s = p.add_subparsers(); add_cli(s); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))",
            "--index-dir",
            str(index_dir),
            "export-feedback",
            "--db",
            str(tmp_path / "fb.sqlite3"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "exported 1 interactions (1 positive) from 1 sessions" in out.stdout and "build-index" in out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_acknowledged_feedback_survives_kill_9(tmp_path):
    """Clients hammer the feedback endpoint; the server is SIGKILLed mid-stream. Every event the
    server acknowledged must be in the database afterwards, exactly as sent."""
    db, port = tmp_path / "fb.sqlite3", free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.tiny_server", str(port), str(db)],
        cwd=REPO,
        env={**os.environ, "CONVREC_FEEDBACK_PER_MINUTE_PER_CLIENT": "0"},  # all four clients are 127.0.0.1
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-2000:]
            time.sleep(0.2)

        acked: list[tuple[int, str, int, str]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n: int) -> None:
            with httpx.Client(base_url=url, timeout=10) as c:
                sid = c.post("/v1/sessions").json()["session_id"]
                items = [
                    i["item_id"]
                    for i in c.post(f"/v1/sessions/{sid}/messages", json={"text": "a comedy"}).json()["items"]
                ]
                k = 0
                while not stop.is_set():
                    item, action = items[k % len(items)], ("like", "dislike")[k % 2]
                    k += 1
                    try:
                        r = c.post(f"/v1/sessions/{sid}/feedback", json={"item_id": item, "action": action})
                    except httpx.TransportError:
                        return  # the server died under us: this one was never acknowledged
                    if r.status_code == 200:
                        with lock:
                            acked.append((r.json()["event_id"], sid, item, action))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 200:
            assert server.poll() is None
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        server.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert server.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {int(r.id): (r.session_id, int(r.item_id), r.action) for r in read_events(db).itertuples()}
    missing = [a for a in acked if stored.get(a[0]) != a[1:]]
    assert len(acked) >= 200 and not missing, missing[:5]
