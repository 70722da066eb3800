"""Several `convrec serve` processes sharing one PostgreSQL database (README "Scaling out").

Two replicas (`convrec --llm none serve --no-ui`, a tiny index built here with the real MiniLM
encoder, hence `slow`) on two loopback ports, one database on a real PostgreSQL server
(tests/pg.py): a conversation started on one continues on the other; SIGKILL of one while
turns and ratings stream loses no acknowledged write; a restarted replica still has every
conversation that had not expired. Each test prints what it measured.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from convrec.core.config import Settings
from convrec.retrieve.build import build_index
from convrec.serve.postgres_store import PostgresStore
from convrec.testing import tiny_catalog

from .pg import free_port
from .test_build import write_movielens

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[1]
TTL_S = 600


class Replica:
    """One `convrec serve` process."""

    def __init__(self, name: str, workdir: Path, index_dir: Path, db_url: str, via_env: bool) -> None:
        self.name, self.workdir, self.port = name, workdir, free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVREC_")}
        # every client here is 127.0.0.1: no limits per client address
        env.update(CONVREC_FEEDBACK_PER_MINUTE_PER_CLIENT="0", CONVREC_MAX_SESSIONS_PER_CLIENT="0")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))  # this checkout's convrec
        argv = [sys.executable, "-m", "convrec.cli", "--index-dir", str(index_dir), "--llm", "none", "serve"]
        argv += ["--port", str(self.port), "--no-ui", "--session-ttl", str(TTL_S)]
        if via_env:
            env["CONVREC_DB_URL"] = db_url
        else:
            argv += ["--db-url", db_url]
        self.log = open(workdir / f"{name}.log", "ab")  # closed in stop()
        self.proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    for _ in range(3):  # the encoder's first calls are slow: warm it before anything is timed
                        httpx.post(f"{self.url}/v1/recommend", json={"text": "a comedy"}, timeout=60)
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"replica {self.name} did not start:\n{tail}")
            time.sleep(0.25)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


class Cluster:
    """Replicas `a` and `b` of one index and one database; `restart` replaces one."""

    def __init__(self, workdir: Path, index_dir: Path, db_url: str) -> None:
        self.workdir, self.index_dir, self.db_url = workdir, index_dir, db_url
        self.replicas: dict[str, Replica] = {}

    def start(self, *names: str) -> None:
        for name in names:  # all start together, then each is waited for
            if name in self.replicas:
                self.replicas[name].stop()
            self.replicas[name] = Replica(name, self.workdir, self.index_dir, self.db_url, via_env=name == "a")
        for name in names:
            self.replicas[name].wait_ready()

    def __getitem__(self, name: str) -> Replica:
        return self.replicas[name]

    def stop_all(self) -> None:
        for replica in self.replicas.values():
            replica.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, real_encoder, pg_server):
    workdir = tmp_path_factory.mktemp("replicas")
    write_movielens(workdir / "data", tiny_catalog())
    settings = Settings(dataset=str(workdir / "data"), index_dir=workdir / "index", llm="none")
    build_index(settings, encoder=real_encoder, progress=False, log=lambda *_: None)
    cluster = Cluster(workdir, workdir / "index", pg_server.create_database("replicas"))
    t = time.perf_counter()
    try:
        cluster.start("a", "b")
        print(f"\n[replicas] two replicas started in {time.perf_counter() - t:.1f} s")
        yield cluster
    finally:
        cluster.stop_all()


def db(cluster) -> PostgresStore:
    return PostgresStore(cluster.db_url, pool_size=2)


def ids(turn: dict) -> list[int]:
    return [i["item_id"] for i in turn["items"]]


def test_a_conversation_started_on_one_replica_continues_on_the_other(cluster):
    a, b = httpx.Client(base_url=cluster["a"].url, timeout=30), httpx.Client(base_url=cluster["b"].url, timeout=30)
    sid = a.post("/v1/sessions").json()["session_id"]

    def say(name: str, text: str, k: int = 2, sid: str = sid) -> dict:
        r = (a if name == "a" else b).post(f"/v1/sessions/{sid}/messages", json={"text": text, "k": k})
        assert r.status_code == 200, r.text
        return r.json()

    first = say("a", "a comedy from the 90s, nothing with horror")
    second = say("b", "more")  # the other replica knows what was asked for and what was shown
    wanted = {"include_genres": ["Comedy"], "exclude_genres": ["Horror"], "year_min": 1990, "year_max": 1999}
    assert {key: second["needs"][key] for key in wanted} == wanted and not set(ids(first)) & set(ids(second))
    liked = ids(second)[0]
    r = b.post(f"/v1/sessions/{sid}/feedback", json={"item_id": liked, "action": "like"})
    assert r.status_code == 200 and r.json()["event_id"]
    assert a.get(f"/v1/sessions/{sid}").json()["needs"]["liked"] == [liked]  # a rating on b, seen on a
    shown = set(ids(first)) | set(ids(second))
    for name, text in (("a", "more"), ("b", "older"), ("a", "more")):
        turn = say(name, text)
        assert turn["needs"]["liked"] == [liked] and turn["needs"]["exclude_genres"] == ["Horror"]
        assert turn["needs"]["include_genres"] == ["Comedy"] and turn["items"]
        assert not set(ids(turn)) & shown, (text, ids(turn), shown)  # nothing is shown twice
        shown |= set(ids(turn))
    assert turn["needs"]["year_max"] == 1989  # "older" on b moved the years a decade back, and a kept them
    steer = b.post(f"/v1/sessions/{sid}/feedback", json={"item_id": ids(turn)[0], "action": "not_interested"})
    assert steer.status_code == 200 and ids(turn)[0] in steer.json()["next"]["needs"]["disliked"]
    states = [client.get(f"/v1/sessions/{sid}").json() for client in (a, b)]
    assert states[0] == states[1] and states[0]["turns"] == 6 and states[0]["feedback_events"] == 2
    assert b.delete(f"/v1/sessions/{sid}").status_code == 200 and a.get(f"/v1/sessions/{sid}").status_code == 404

    latency: dict[str, list[float]] = {"a": [], "b": []}  # 8 conversations of 4 turns, each turn on the other replica
    for n in range(8):
        other = a.post("/v1/sessions").json()["session_id"]
        for k in range(4):
            t = time.perf_counter()
            say("ab"[(n + k) % 2], "a film", k=1, sid=other)
            latency["ab"[(n + k) % 2]].append(time.perf_counter() - t)
    for name, values in latency.items():
        print(
            f"\n[replicas] turn on {name}, each after a turn on the other (PostgreSQL store, HTTP, MiniLM): "
            f"p50 {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms over {len(values)} turns"
        )


def test_sigkill_of_a_replica_loses_no_acknowledged_write(cluster):
    """Four clients send ratings and turns to replica a, whose conversations were opened on
    both; a is SIGKILLed mid-stream. Every acknowledged rating is in the database exactly as
    sent, every acknowledged turn is in its conversation, and b carries on with them."""
    victim, survivor = cluster["a"], cluster["b"]
    acked: list[tuple[int, str, int, str]] = []
    turns_acked: dict[str, int] = {}
    lock, stop = threading.Lock(), threading.Event()

    def client(n: int) -> None:
        opener = httpx.Client(base_url=(victim if n % 2 else survivor).url, timeout=30)
        sid = opener.post("/v1/sessions").json()["session_id"]
        first = opener.post(f"/v1/sessions/{sid}/messages", json={"text": "a film", "k": 8})
        assert first.status_code == 200, first.text
        items = ids(first.json())
        with lock:
            turns_acked[sid] = 1
        with httpx.Client(base_url=victim.url, timeout=30) as c:
            k = 0
            while not stop.is_set():
                k += 1
                try:
                    if k % 10 == 0:
                        r = c.post(f"/v1/sessions/{sid}/messages", json={"text": "more", "k": 1})
                        if r.status_code == 200:
                            with lock:
                                turns_acked[sid] += 1
                        continue
                    item, action = items[k % len(items)], ("like", "dislike")[k % 2]
                    r = c.post(f"/v1/sessions/{sid}/feedback", json={"item_id": item, "action": action})
                except httpx.TransportError:
                    return  # the replica died under us: this request was never acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.append((r.json()["event_id"], sid, item, action))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 240
    while len(acked) < 200:
        assert victim.proc.poll() is None and time.monotonic() < deadline, "the replica stopped answering"
        time.sleep(0.01)
    victim.kill()  # mid-stream: ratings and turns are in flight
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert victim.proc.returncode == -signal.SIGKILL

    store = db(cluster)
    try:
        stored = {e.id: (e.session_id, e.item_id, e.action) for e in store.events()}
        missing = [a for a in acked if stored.get(a[0]) != a[1:]]
        assert len(acked) >= 200 and not missing, missing[:5]
        ours = sum(e[0] in turns_acked for e in stored.values())
        with httpx.Client(base_url=survivor.url, timeout=30) as c:
            saved = {sid: c.get(f"/v1/sessions/{sid}").json()["turns"] for sid in turns_acked}
            for sid, n in turns_acked.items():
                assert n <= saved[sid] <= n + 1, (
                    sid,
                    n,
                    saved[sid],
                )  # + 1: a turn saved, then killed before its answer
                r = c.post(f"/v1/sessions/{sid}/messages", json={"text": "one more", "k": 1})
                assert r.status_code == 200, r.text  # the survivor continues every one of them
    finally:
        store.close()
    print(
        f"\n[replicas] SIGKILL mid-stream: ratings acknowledged {len(acked)}, found {len(acked) - len(missing)} "
        f"(stored {ours}: committed but not yet answered when killed counts too); "
        f"turns acknowledged {sum(turns_acked.values())}, saved {sum(saved.values())}"
    )


def test_a_restarted_replica_keeps_every_conversation_that_had_not_expired(cluster):
    a, b = cluster["a"], cluster["b"]
    if a.proc.poll() is not None:  # killed by the test before
        cluster.start("a")
        a = cluster["a"]
    sids, expected = [], {}
    for n in range(10):
        with httpx.Client(base_url=(a if n % 2 else b).url, timeout=30) as c:
            sid = c.post("/v1/sessions").json()["session_id"]
            turn = c.post(f"/v1/sessions/{sid}/messages", json={"text": ("a comedy", "a western")[n % 2]}).json()
            sids.append(sid)
            expected[sid] = (turn["needs"]["include_genres"], ids(turn))
    idle = sids[:3]
    store = db(cluster)
    try:  # three of them have been idle for longer than the ttl
        with store._tx() as cur:
            for sid in idle:
                cur.execute("UPDATE sessions SET last_used = last_used - ? WHERE id = ?", (TTL_S + 1, sid))
    finally:
        store.close()
    a.stop()
    t = time.perf_counter()
    cluster.start("a")
    restart_s = time.perf_counter() - t
    kept = 0
    with httpx.Client(base_url=cluster["a"].url, timeout=30) as c:
        for sid in sids:
            r = c.get(f"/v1/sessions/{sid}")
            if sid in idle:
                assert r.status_code == 404 and "expired" in r.json()["error"]
                continue
            state = r.json()
            assert r.status_code == 200 and state["turns"] == 1, state
            assert (state["needs"]["include_genres"], state["last_shown"]) == expected[sid]
            kept += 1
    print(
        f"\n[replicas] restart of a replica ({restart_s:.1f} s to serve again): {kept} of "
        f"{len(sids) - len(idle)} unexpired conversations kept, {len(idle)} expired ones gone"
    )
    assert kept == 7
