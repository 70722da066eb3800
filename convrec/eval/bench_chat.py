"""`convrec bench chat`: per-stage latency and LLM tokens over scripted multi-turn chats.

`first_results` is the time to the blended preview that `Recommender.stream` yields before
the LLM runs; `total` is the fully ranked and explained turn.

Prints a table and writes JSON (default reports/bench_chat.json). Timings are wall-clock on
whatever machine runs it: compare numbers from one run, never assert them in tests.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from convrec.chat.session import Session

CONVERSATIONS: list[list[str]] = [
    ["a funny 90s movie, nothing with horror", "older, from the 80s", "more like #2"],
    ["推荐几部九十年代的喜剧，不要恐怖片", "更老一点的"],
    ["something like Toy Story but newer", "no more animation"],
    ["a western before 1970", "only from the 1960s"],
    ["a scary movie for a halloween night", "less like #1"],
    ["sci-fi about space exploration", "newer"],
    ["a romantic comedy from the 2000s", "something with more drama"],
    ["我想看科幻电影", "不要动作片"],
    ["a crime thriller like Heat", "from the 90s"],
    ["documentaries about music", "start over, a war film"],
    ["an animated film for my kids", "更新一点的"],
]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def bench_chat(recommender, conversations: list[list[str]] = CONVERSATIONS) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    for conv in conversations:
        session = Session()
        for text in conv:
            start = time.perf_counter()
            first = None
            for turn in recommender.stream(session, text):
                first = first if first is not None else (time.perf_counter() - start) * 1000
            total = (time.perf_counter() - start) * 1000
            turns.append(
                {
                    "text": text,
                    "timings_ms": {**turn.timings_ms, "first_results": first, "total": total},
                    "prompt_tokens": turn.info.get("prompt_tokens", 0) + turn.info.get("parse_prompt_tokens", 0),
                    "completion_tokens": turn.info.get("completion_tokens", 0)
                    + turn.info.get("parse_completion_tokens", 0),
                    "parse_source": turn.info.get("parse_source"),
                    "degraded": turn.info.get("degraded"),
                    "items": [r.item.label() for r in turn.recs],
                }
            )
    stages = list(dict.fromkeys(s for t in turns for s in t["timings_ms"]))
    summary = {
        s: {
            "p50_ms": round(percentile([t["timings_ms"].get(s, 0.0) for t in turns], 50), 1),
            "p95_ms": round(percentile([t["timings_ms"].get(s, 0.0) for t in turns], 95), 1),
        }
        for s in stages
    }
    for key in ("prompt_tokens", "completion_tokens"):
        values = [float(t[key]) for t in turns]
        summary[key] = {"p50": percentile(values, 50), "p95": percentile(values, 95), "mean": float(np.mean(values))}
    return {
        "turns": len(turns),
        "summary": summary,
        "config": {
            "llm": recommender.llm.name if recommender.llm is not None else None,
            "llm_reranks": recommender.llm_reranks,
            "cf": recommender.settings.cf_model,
        },
        "machine": {"python": platform.python_version(), "processor": platform.processor(), "cpus": _cpus()},
        "details": turns,
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['turns']} turns")
    print(f"{'stage':<20}{'p50 ms':>12}{'p95 ms':>12}")
    for stage, row in result["summary"].items():
        if "p50_ms" in row:
            print(f"{stage:<20}{row['p50_ms']:>12.1f}{row['p95_ms']:>12.1f}")
    for key in ("prompt_tokens", "completion_tokens"):
        row = result["summary"][key]
        print(f"{key:<20}{row['p50']:>12.0f}{row['p95']:>12.0f}")


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
