"""/healthz and the event loop when the database is down or locked: nothing that waits for the
store runs on the event loop, so endpoints without a database answer at once, and /healthz says
"store": "down" after at most `health_timeout_s` instead of waiting for the database.

Times are printed, not asserted (they depend on the machine); what is asserted is the order in
which requests sent together finish."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import pytest

from convrec.serve.api import Running, create_api
from convrec.serve.service import make_service

from .pg import PgServer, why_not
from .test_pipeline import make_recommender


class Timed(threading.Thread):
    """One request on its own thread: its response and when it finished (monotonic seconds)."""

    def __init__(self, url: str, method: str, path: str) -> None:
        super().__init__(daemon=True)
        self.url, self.method, self.path = url, method, path
        self.response: httpx.Response | None = None
        self.started = self.finished = 0.0

    def run(self) -> None:
        self.started = time.monotonic()
        self.response = httpx.request(self.method, self.url + self.path, timeout=120)
        self.finished = time.monotonic()

    @property
    def took_s(self) -> float:
        return self.finished - self.started


def together(url: str, *requests: tuple[str, str]) -> list[Timed]:
    """The requests sent a moment apart, in this order, each on its own thread; all finished."""
    threads = [Timed(url, method, path) for method, path in requests]
    for t in threads:
        t.start()
        time.sleep(0.3)  # so that each is under way before the next is sent
    for t in threads:
        t.join(timeout=120)
        assert t.response is not None, f"{t.method} {t.path} got no answer"
    return threads


def report(what: str, threads: list[Timed]) -> None:
    print(
        f"[{what}] " + "; ".join(f"{t.method} {t.path} {t.response.status_code} in {t.took_s:.2f} s" for t in threads)
    )


@pytest.mark.slow
def test_with_postgresql_stopped_models_answer_at_once_and_healthz_says_the_store_is_down():
    reason = why_not()
    if reason:
        pytest.skip(reason)
    server = PgServer.start()
    try:
        url = server.create_database("outage")
        # a request waits up to 8 s for the database, /healthz up to 2 s
        rec = make_recommender(store_timeout_s=8.0, health_timeout_s=2.0)
        service = make_service(rec, feedback_db=url)
        with Running(create_api(service)) as api:
            up = httpx.get(f"{api.url}/healthz", timeout=30)
            assert up.status_code == 200
            sid = httpx.post(f"{api.url}/v1/sessions", timeout=30).json()["session_id"]

            server.halt()
            session, health, models = together(
                api.url, ("GET", f"/v1/sessions/{sid}"), ("GET", "/healthz"), ("GET", "/v1/models")
            )
            report("postgresql stopped", [session, health, models])
            assert models.response.status_code == 200 and models.finished < health.finished
            assert health.response.status_code == 503
            assert health.finished < session.finished  # it did not wait as long as a request does
            assert health.response.json()["store"] == "down" and health.response.json()["sessions"] is None
            assert up.json()["store"] == "up" and up.json()["sessions"] == 0
            assert session.response.status_code == 503 and "unavailable" in session.response.json()["error"]

            server.resume()
            again = [Timed(api.url, "GET", "/healthz") for _ in range(10)]
            for t in again:  # until the pool has reconnected: each check answers within its timeout
                t.run()
                if t.response.json()["store"] == "up":
                    break
            print(f"[postgresql restarted] /healthz: {', '.join(f'{t.took_s:.2f} s' for t in again if t.response)}")
            assert t.response.json()["store"] == "up"
            assert httpx.get(f"{api.url}/v1/sessions/{sid}", timeout=30).status_code == 200  # nothing was lost
    finally:
        server.stop()


def test_sqlite_held_by_another_writer_blocks_neither_healthz_nor_the_other_endpoints(tmp_path):
    db = tmp_path / "convrec.sqlite3"
    rec = make_recommender(store_timeout_s=6.0, health_timeout_s=2.0)
    service = make_service(rec, feedback_db=db)
    other = sqlite3.connect(db, isolation_level=None)
    with Running(create_api(service)) as api:
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the database
        try:
            alone = together(api.url, ("GET", "/healthz"))
            assert alone[0].response.status_code == 200 and alone[0].response.json()["store"] == "up"  # reads go on
            write, health, models = together(
                api.url, ("POST", "/v1/sessions"), ("GET", "/healthz"), ("GET", "/v1/models")
            )
        finally:
            other.execute("ROLLBACK")
        report("sqlite held by another writer", [*alone, write, health, models])
        assert models.response.status_code == 200 and models.finished < health.finished < write.finished
        assert health.response.status_code in (200, 503)
        assert write.response.status_code == 503 and "unavailable" in write.response.json()["error"]
        assert httpx.post(f"{api.url}/v1/sessions", timeout=30).status_code == 201  # and all is well once it is free
    other.close()
