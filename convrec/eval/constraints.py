"""The constraint suite: scripted multi-turn chats whose expected constraints were written by
hand (never taken from the parser), checked against every top-k item of every turn.

Each line of the suite file is `{"type": ..., "turns": [{"text": ..., "include": [...],
"exclude": [...], "years": [lo, hi], "liked": [titles], "more_like": n, "less_like": n,
"newer_than_last": true}, ...]}`. A turn can run in-process, through
`convrec recommend --json --session FILE` (the `--cli` mode), which is how users call it, or
through the OpenAI-compatible `POST /v1/chat/completions` with the whole conversation in each
request (the `--chat-api` mode), as chat front-ends call it.

Also checks every reason with `rerank.unsupported_claims` (the turn's own keywords are names, not
claims: a reason may quote "heist" though a film is called Heist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convrec.chat.session import Session
from convrec.rank.explain import unsupported_claims

Runner = Callable[[list[str]], list[dict[str, Any]]]  # turns -> one `recommend --json` object per turn


def in_process(recommender) -> Runner:
    def run(texts: list[str]) -> list[dict[str, Any]]:
        session = Session()
        return [recommender.recommend(session, t).to_dict() for t in texts]

    return run


def through_cli(extra_env: dict[str, str] | None = None) -> Runner:
    """Each turn is a separate `convrec recommend --json --session FILE` process."""

    def run(texts: list[str]) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory() as tmp:
            session = Path(tmp) / "session.json"
            out = []
            for t in texts:
                proc = subprocess.run(
                    [sys.executable, "-m", "convrec.cli", "recommend", "--json", "--session", str(session), t],
                    capture_output=True,
                    text=True,
                    env={**os.environ, **(extra_env or {})},
                    timeout=600,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"convrec recommend failed on {t!r}: {proc.stderr.strip()[-500:]}")
                out.append(json.loads(proc.stdout))
            return out

    return run


def check_turn(
    expect: dict[str, Any], result: dict[str, Any], previous: dict[str, Any] | None, catalog
) -> list[list[str]]:
    """For each item, the list of constraints it breaks (empty list = satisfies all)."""
    liked_ids = {catalog_id(catalog, t) for t in expect.get("liked", [])}
    prev_items = previous["items"] if previous else []
    lo, hi = expect.get("years", (None, None))
    if expect.get("newer_than_last") and prev_items:
        lo = max(i["year"] or 0 for i in prev_items) + 1
    problems = []
    for item in result["items"]:
        broken = []
        genres = set(item["genres"])
        broken += [f"missing {g}" for g in expect.get("include", []) if g not in genres]
        broken += [f"has {g}" for g in expect.get("exclude", []) if g in genres]
        if lo is not None and (item["year"] is None or item["year"] < lo):
            broken.append(f"year {item['year']} < {lo}")
        if hi is not None and (item["year"] is None or item["year"] > hi):
            broken.append(f"year {item['year']} > {hi}")
        if item["item_id"] in liked_ids:
            broken.append("recommends the liked title itself")
        if item["item_id"] in {i["item_id"] for i in prev_items}:
            broken.append("shown in the previous turn")
        problems.append(broken)
    for key, field in (("more_like", "liked"), ("less_like", "disliked")):
        if key in expect and prev_items:
            wanted = prev_items[expect[key] - 1]["item_id"]
            if wanted not in result["needs"][field]:
                problems.append([f"#{expect[key]} not in needs.{field}"])
    missing = liked_ids - set(result["needs"]["liked"])
    if missing:
        problems.append([f"liked title not resolved: {sorted(missing)}"])
    return problems


def through_chat_api(base_url: str, times: dict[int, list[float]] | None = None) -> Runner:
    """Each turn is one `POST /v1/chat/completions` carrying the conversation so far, the
    assistant's earlier answers included (the API is stateless); the result is the answer's
    "convrec" field. `times` collects each request's wall milliseconds by turn number."""
    import httpx

    def run(texts: list[str]) -> list[dict[str, Any]]:
        messages: list[dict[str, str]] = []
        out = []
        for n, text in enumerate(texts, 1):
            messages.append({"role": "user", "content": text})
            start = time.perf_counter()
            r = httpx.post(f"{base_url}/v1/chat/completions", json={"messages": messages}, timeout=600)
            if times is not None:
                times.setdefault(n, []).append((time.perf_counter() - start) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"the chat API refused {text!r}: {r.status_code} {r.text[:500]}")
            answer = r.json()
            messages.append({"role": "assistant", "content": answer["choices"][0]["message"]["content"]})
            out.append(answer["convrec"])
        return out

    return run


def catalog_id(catalog, title: str) -> int:
    from convrec.data.titles import TitleMatcher

    matcher = getattr(catalog, "_suite_matcher", None) or TitleMatcher(catalog.items.values())
    catalog._suite_matcher = matcher
    found = matcher.match(title)
    if found is None:
        raise ValueError(f"suite title {title!r} is not in the catalogue")
    return found


def run_suite(path: Path, runner: Runner, catalog, k: int = 5) -> dict[str, Any]:
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # items ok, items checked, short turns
    failures, reasons_checked, unsupported = [], 0, []
    genres = catalog.genres()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        results = runner([t["text"] for t in case["turns"]])
        previous = None
        for expect, result in zip(case["turns"], results):
            problems = check_turn(expect, result, previous, catalog)
            row = by_type[case["type"]]
            item_problems = problems[: len(result["items"])]
            row[0] += sum(1 for p in item_problems if not p)
            row[1] += max(len(result["items"]), k)  # a short list counts its missing items as failures
            row[2] += len(result["items"]) < k
            if any(problems) or len(result["items"]) < k:
                failures.append(
                    {"text": expect["text"], "problems": [p for p in problems if p], "items": len(result["items"])}
                )
            titles = [i["title"] for i in result["items"]]
            said = [w for w in result["needs"]["keywords"] if w.casefold() in expect["text"].casefold()]
            for item in result["items"]:
                record = catalog.get(item["item_id"])
                reasons_checked += 1
                flagged = unsupported_claims(item["why"], record, genres, titles, said)
                if flagged:
                    unsupported.append({"item": item["title"], "why": item["why"], "flagged": flagged})
            previous = result
    per_type = {
        t: {"satisfied": round(ok / max(n, 1), 4), "items": n, "short_turns": short}
        for t, (ok, n, short) in by_type.items()
    }
    ok = sum(v[0] for v in by_type.values())
    n = sum(v[1] for v in by_type.values())
    return {
        "satisfied": round(ok / max(n, 1), 4),
        "items": n,
        "per_type": per_type,
        "reasons_checked": reasons_checked,
        "unsupported_reasons": unsupported,
        "failures": failures,
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"{'type':<14}{'satisfied':>10}{'items':>8}{'short':>7}")
    for t, row in report["per_type"].items():
        print(f"{t:<14}{row['satisfied']:>10.1%}{row['items']:>8}{row['short_turns']:>7}")
    print(f"{'all':<14}{report['satisfied']:>10.1%}{report['items']:>8}")
    print(f"reasons checked: {report['reasons_checked']}, unsupported: {len(report['unsupported_reasons'])}")
    for f in report["failures"][:20]:
        print(f"  FAIL {f['text']!r}: {f['problems'][:3]} ({f['items']} items)")


# -- the command line (`convrec eval constraints`, wired in by cli.py) -------------------------
