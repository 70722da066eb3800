"""`convrec loadtest`: many conversations at once over HTTP on loopback; prints a table, writes JSON.

Each of N sessions (default 20) holds its own conversation of T turns (default 10), all at
once: it asks for one genre nobody else asks for (half of them in Chinese), then follows up
with critiques ("more like #2", "older", "not #3", ...) and one 👍 through the feedback endpoint.
The follow-ups are read by the rules alone, so a session's genre never changes: an answer item
without it, a `needs` naming another genre, or a liked id this session was never shown, is
cross-session leakage (or a bug); the target is 0 of each, and 0 errors.

Reported: latency p50/p95/max per turn, turns per minute, errors, leakage, empty answers, the
time spent waiting in the model's line, and fairness: between two turns of one session, how
many other sessions' turns were served (with a fair line and 20 sessions, about 19, never 0).

Bounded on purpose: at most 64 sessions and 50 turns each, a wall-clock budget after which
no new turn starts (`--max-seconds`), and loopback addresses only.
"""

from __future__ import annotations

import argparse
import ipaddress
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from convrec.core.files import write_json
from convrec.lang import detect

MAX_SESSIONS, MAX_TURNS = 64, 50

# (genres that every answer must include at least one of, first message)
SPECS: list[tuple[tuple[str, ...], str]] = [
    (("Action",), "an action movie"),
    (("Adventure",), "推荐几部冒险片"),
    (("Animation",), "an animated movie"),
    (("Children",), "推荐几部家庭电影"),
    (("Comedy",), "a comedy"),
    (("Crime",), "推荐几部犯罪片"),
    (("Documentary",), "a documentary"),
    (("Drama",), "推荐几部剧情片"),
    (("Fantasy",), "a fantasy movie"),
    (("Film-Noir",), "推荐几部黑色电影"),
    (("Horror",), "a horror movie"),
    (("IMAX",), "an imax movie"),
    (("Musical",), "推荐几部歌舞片"),
    (("Mystery",), "a mystery movie"),
    (("Romance",), "推荐几部爱情片"),
    (("Sci-Fi",), "a sci-fi movie"),
    (("Thriller",), "推荐几部惊悚片"),
    (("War",), "a war movie"),
    (("Western",), "推荐几部西部片"),
    (("Romance", "Comedy"), "a romantic comedy"),
]
FOLLOW_UPS = {
    "en": ["more like #2", "older", "more", "not #3", "newer", "from the 90s", "more like #1", "more", "more like #3"],
    "zh": [
        "更像第二个",
        "更老一点的",
        "再来几部",
        "不要第三个那种",
        "新一点的",
        "九十年代的",
        "更像第一个",
        "再来几部",
        "更像第三个",
    ],
}


@dataclass
class Record:
    session: int
    turn: int
    text: str
    status: int
    latency_s: float
    finished_at: float
    queue_ms: float = 0.0
    items: int = 0
    leaks: list[str] = field(default_factory=list)
    error: str = ""


def script(n: int, turns: int, specs: list[tuple[tuple[str, ...], str]] = SPECS) -> tuple[tuple[str, ...], list[str]]:
    """Session n's genres and its messages."""
    genres, first = specs[n % len(specs)]
    follow = FOLLOW_UPS[detect(first)]
    return genres, [first] + [follow[i % len(follow)] for i in range(turns - 1)]


def check_loopback(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(
            f"refusing to load-test {url}: only loopback addresses (127.0.0.1, ::1, localhost) are allowed"
        )
    return url.rstrip("/")


def run_session(
    url: str,
    n: int,
    turns: int,
    deadline: float,
    records: list[Record],
    lock: threading.Lock,
    timeout_s: float,
    specs: list[tuple[tuple[str, ...], str]],
) -> None:
    import httpx

    genres, messages = script(n, turns, specs)
    shown: set[int] = set()
    with httpx.Client(base_url=url, timeout=timeout_s) as client:
        sid = client.post("/v1/sessions").json()["session_id"]
        for t, text in enumerate(messages):
            if time.monotonic() > deadline:
                break
            start = time.perf_counter()
            rec = Record(n, t, text, 0, 0.0, 0.0)
            try:
                r = client.post(f"/v1/sessions/{sid}/messages", json={"text": text})
                rec.status = r.status_code
                body = r.json()
            except Exception as e:  # a refused connection, a timeout: counted as an error
                rec.error, body = f"{type(e).__name__}: {e}", {}
            rec.latency_s, rec.finished_at = time.perf_counter() - start, time.monotonic()
            if rec.status != 200:
                rec.error = rec.error or str(body.get("error", body))[:200]
            else:
                items = body["items"]
                shown.update(i["item_id"] for i in items)
                rec.items, rec.queue_ms = len(items), float(body["timings_ms"].get("queue", 0.0))
                rec.leaks = leaks(genres, body, shown)
                if t == 0 and items:  # one 👍 per session, through the feedback endpoint
                    f = client.post(
                        f"/v1/sessions/{sid}/feedback", json={"item_id": items[0]["item_id"], "action": "like"}
                    )
                    if f.status_code != 200:
                        rec.error = f"feedback {f.status_code}: {f.text[:200]}"
            with lock:
                records.append(rec)
        client.delete(f"/v1/sessions/{sid}")


def leaks(genres: tuple[str, ...], body: dict[str, Any], shown: set[int]) -> list[str]:
    """What in one answer could only have come from another session.

    >>> leaks(("Western",), {"needs": {"include_genres": ["Western"], "liked": [1]},
    ...       "items": [{"item_id": 2, "genres": ["Comedy"]}]}, {1, 2})
    ['item 2 has none of Western']
    """
    exact = body["items"][: body["relaxed"]["exact"]] if body.get("relaxed") else body["items"]  # the rest: loosened
    out = [f"item {i['item_id']} has none of {', '.join(genres)}" for i in exact if not set(genres) & set(i["genres"])]
    asked = body["needs"]["include_genres"]
    if set(asked) != set(genres):
        out.append(f"needs name {asked}, this session asked for {list(genres)}")
    out += [f"liked {i} was never shown to this session" for i in body["needs"]["liked"] if i not in shown]
    return out


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> pct([1, 2, 3, 4], 50), pct([1, 2, 3, 4], 95)
    (2, 4)
    """
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))]


def others_between(records: list[Record]) -> list[int]:
    """For each pair of consecutive turns of one session: how many other sessions' turns finished in between.

    >>> rs = [Record(s, t, "", 200, 0, f) for s, t, f in [(0, 0, 1), (1, 0, 2), (0, 1, 3), (1, 1, 4)]]
    >>> others_between(rs)
    [1, 1]
    """
    ordered = sorted(records, key=lambda r: r.finished_at)
    last: dict[int, int] = {}
    gaps = []
    for pos, r in enumerate(ordered):
        if r.session in last:
            gaps.append(pos - last[r.session] - 1)
        last[r.session] = pos
    return gaps


def summarise(
    records: list[Record], wall_s: float, sessions: int, turns: int, server: dict[str, Any]
) -> dict[str, Any]:
    ok = [r for r in records if r.status == 200 and not r.error]
    lat = [r.latency_s for r in ok]
    queue = [r.queue_ms / 1000 for r in ok]
    gaps = others_between(ok)
    per_session = [
        statistics.mean([r.latency_s for r in ok if r.session == s])
        for s in range(sessions)
        if any(r.session == s for r in ok)
    ]
    return {
        "sessions": sessions,
        "turns_per_session_planned": turns,
        "turns_done": len(records),
        "turns_ok": len(ok),
        "errors": len(records) - len(ok),
        "leaks": sum(len(r.leaks) for r in records),
        "empty_answers": sum(1 for r in ok if r.items == 0),
        "wall_s": round(wall_s, 1),
        "throughput_turns_per_min": round(60 * len(ok) / wall_s, 2) if wall_s else 0.0,
        "latency_s": {
            "p50": round(pct(lat, 50), 2),
            "p95": round(pct(lat, 95), 2),
            "max": round(max(lat, default=float("nan")), 2),
            "mean": round(statistics.mean(lat), 2) if lat else None,
        },
        "queue_wait_s": {
            "p50": round(pct(queue, 50), 2),
            "p95": round(pct(queue, 95), 2),
            "max": round(max(queue, default=float("nan")), 2),
        },
        "service_s_per_turn": round(wall_s / len(ok), 2) if ok else None,
        "fairness": {
            "others_served_between_my_turns": {
                "min": min(gaps, default=None),
                "median": statistics.median(gaps) if gaps else None,
                "max": max(gaps, default=None),
            },
            "per_session_mean_latency_s": {
                "min": round(min(per_session), 2) if per_session else None,
                "max": round(max(per_session), 2) if per_session else None,
            },
        },
        "server": server,
    }


def load_test(
    url: str,
    sessions: int = 20,
    turns: int = 10,
    max_seconds: float = 1800,
    timeout_s: float = 900,
    specs: list[tuple[tuple[str, ...], str]] = SPECS,
) -> dict[str, Any]:
    """Run the sessions against `url`; `specs` (genres, first message) default to the 20 MovieLens ones."""
    import httpx

    if not (1 <= sessions <= MAX_SESSIONS and 1 <= turns <= MAX_TURNS):
        raise SystemExit(f"sessions must be 1..{MAX_SESSIONS} and turns 1..{MAX_TURNS}")
    url = check_loopback(url)
    records: list[Record] = []
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + max_seconds
    threads = [
        threading.Thread(
            target=run_session, args=(url, n, turns, deadline, records, lock, timeout_s, specs), daemon=True
        )
        for n in range(sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    server = httpx.get(f"{url}/healthz", timeout=30).json()
    summary = summarise(records, wall, sessions, turns, server)
    summary["stopped_by_deadline"] = len(records) < sessions * turns
    return {
        "summary": summary,
        "turns": [r.__dict__ for r in sorted(records, key=lambda r: r.finished_at)],
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "url": url,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def print_table(result: dict[str, Any]) -> None:
    s = result["summary"]
    lat, q, fair = s["latency_s"], s["queue_wait_s"], s["fairness"]
    rows = [
        (
            "sessions x turns",
            f"{s['sessions']} x {s['turns_per_session_planned']} ({s['turns_done']} done{', stopped by --max-seconds' if s['stopped_by_deadline'] else ''})",
        ),
        ("errors", s["errors"]),
        ("cross-session leaks", s["leaks"]),
        ("empty answers", s["empty_answers"]),
        ("latency p50 / p95 / max", f"{lat['p50']} / {lat['p95']} / {lat['max']} s"),
        ("queue wait p50 / p95 / max", f"{q['p50']} / {q['p95']} / {q['max']} s"),
        ("throughput", f"{s['throughput_turns_per_min']} turns/min ({s['service_s_per_turn']} s per turn)"),
        (
            "others served between my turns",
            "min {min} / median {median} / max {max}".format(**fair["others_served_between_my_turns"]),
        ),
        ("per-session mean latency", "{min} .. {max} s".format(**fair["per_session_mean_latency_s"])),
        ("model line (server)", s["server"].get("model_queue")),
        ("wall", f"{s['wall_s']} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


# -- CLI ------------------------------------------------------------------------------------


def cmd_loadtest(args: argparse.Namespace) -> int:
    import tempfile

    if args.url:
        result = load_test(args.url, args.sessions, args.turns, args.max_seconds)
    else:
        from convrec.chat.load import load_recommender
        from convrec.core.config import settings_from_args
        from convrec.serve.api import Running, create_server
        from convrec.serve.service import make_service

        settings = settings_from_args(args)
        recommender = load_recommender(settings)
        with tempfile.TemporaryDirectory(prefix="convrec-load-") as tmp:
            service = make_service(
                recommender, feedback_db=Path(tmp) / "feedback.sqlite3", max_waiting=max(32, args.sessions)
            )
            with Running(create_server(service, ui=False)) as server:
                print(
                    f"serving the real index on {server.url} (llm: {getattr(recommender.llm, 'name', None)})",
                    flush=True,
                )
                result = load_test(server.url, args.sessions, args.turns, args.max_seconds)
        result["llm"] = getattr(recommender.llm, "name", None)
        result["catalog_items"] = len(recommender.items)
    write_json(args.out, result)
    print_table(result)
    print(f"wrote {args.out}")
    s = result["summary"]
    return 0 if s["errors"] == 0 and s["leaks"] == 0 else 1


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "loadtest", help="concurrent conversations over HTTP on loopback: latency, errors, leakage"
    )
    p.add_argument("--url", help="a running `convrec serve` on loopback; default: start one on the real index")
    p.add_argument(
        "--sessions",
        type=int,
        default=20,
        help=f"concurrent conversations, each with its own genre (1..{MAX_SESSIONS})",
    )
    p.add_argument("--turns", type=int, default=10, help=f"messages per conversation (1..{MAX_TURNS})")
    p.add_argument("--max-seconds", type=float, default=1800, help="no new turn starts after this many seconds")
    p.add_argument("--out", type=Path, default=Path("reports/loadtest.json"))
    p.set_defaults(func=cmd_loadtest)
