"""Concurrency of the serving path: the shared text encoder under many threads at once, and
requests waiting for the model that must not take the server's threads from cheap requests."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convrec.serve.api import create_api
from convrec.serve.service import make_service

from .test_pipeline import make_recommender

WORDS = "funny scary heist space love war western crime drama 喜剧 恐怖 九十年代 dog cat".split()


@pytest.mark.slow
def test_the_real_encoder_gives_the_same_vectors_to_many_threads_at_once(real_encoder):
    """Previews encode outside the model's line, so several requests share the one encoder at
    once. Mixed batch sizes and texts longer than the model's window (truncated) are the cases
    in which fast tokenizers have raised "Already borrowed"; every call must succeed and agree
    with the same texts encoded one at a time."""
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.choice([1, 5, 40, 300]))) for _ in range(40)]
    alone = real_encoder.encode(texts, batch_size=1)
    threads, calls = 16, 3
    errors: list[str] = []
    differ: list[list[int]] = []
    start = threading.Barrier(threads)
    lock, in_flight, most_at_once = threading.Lock(), [0], [0]

    def worker(seed: int) -> None:
        r = random.Random(seed)
        start.wait()  # all threads call the encoder together
        for _ in range(calls):
            rows = r.sample(range(len(texts)), r.choice([1, 3, 8]))
            with lock:
                in_flight[0] += 1
                most_at_once[0] = max(most_at_once[0], in_flight[0])
            try:
                got = real_encoder.encode([texts[i] for i in rows], batch_size=r.choice([1, 4, 64]))
            except Exception as e:  # any failure under concurrency is the finding
                errors.append(f"{type(e).__name__}: {e}")
                continue
            finally:
                with lock:
                    in_flight[0] -= 1
            if not np.allclose(got, alone[rows], atol=1e-4):
                differ.append(rows)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert most_at_once[0] > 1  # the calls did overlap
    assert not errors and not differ, (sorted(set(errors)), differ)


def test_requests_waiting_for_the_model_leave_the_server_threads_to_cheap_requests():
    """With the model busy, more message requests than the server has worker threads wait in
    its line; a cheap request (the state of a session) is still answered while they wait,
    not after the model comes free."""
    service = make_service(make_recommender(), max_waiting=64)
    pool = 4  # the server's default worker threads, made small so that a few requests can fill them
    waiting = 3 * pool
    with TestClient(create_api(service)) as client:
        client.portal.call(_shrink_default_thread_pool, pool)
        sids = [client.post("/v1/sessions").json()["session_id"] for _ in range(waiting + 1)]
        answers: list[int] = []
        service.gate.acquire()  # another conversation holds the model
        try:
            senders = [
                threading.Thread(
                    target=lambda sid=sid: answers.append(
                        client.post(f"/v1/sessions/{sid}/messages", json={"text": "a comedy"}).status_code
                    )
                )
                for sid in sids[1:]
            ]
            for t in senders:
                t.start()
            _wait_until(lambda: service.gate.waiting() >= pool)  # the default pool's worth is in the line
            cheap: dict[str, float] = {}

            def ask_state() -> None:
                assert client.get(f"/v1/sessions/{sids[0]}").status_code == 200
                cheap["answered_at"] = time.perf_counter()

            asker = threading.Thread(target=ask_state)
            asker.start()
            asker.join(timeout=10)  # how long the model stays busy if the cheap request cannot get through
            _wait_until(lambda: service.gate.waiting() == waiting, timeout_s=10, required=False)
        finally:
            released_at = time.perf_counter()
            service.gate.release()
        asker.join()
        for t in senders:
            t.join()
    assert cheap["answered_at"] < released_at, "the cheap request waited for the model to come free"
    assert service.gate.stats()["max_line"] == waiting and sorted(answers) == [200] * waiting


def _shrink_default_thread_pool(tokens: int) -> None:
    """Runs on the server's event loop: the pool that sync endpoints run in gets `tokens` threads."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = tokens


def _wait_until(condition, timeout_s: float = 30.0, required: bool = True) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            assert not required, "gave up waiting"
            return
        time.sleep(0.005)


def test_model_threads_refuse_at_once_when_every_one_is_taken():
    import asyncio

    from convrec.serve.api import ModelThreads
    from convrec.serve.sessions import ServiceBusy

    async def scenario() -> None:
        threads, free = ModelThreads(1), threading.Event()
        first = asyncio.ensure_future(threads.run(free.wait))
        await asyncio.sleep(0)  # the first call holds the only thread
        with pytest.raises(ServiceBusy, match="1 requests are already waiting"):
            await threads.run(time.perf_counter)
        free.set()
        assert await first is True
        assert await threads.run(len, "abc") == 3  # the thread is free again

    asyncio.run(scenario())
