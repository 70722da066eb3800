"""`convrec bench chat`: per-stage latency and LLM tokens over scripted multi-turn chats.

Per turn: `first_results` is the time to the blended preview that `Recommender.stream` yields
before the model runs (the cards shown); `cards` the time to the final ranked turn; `reply_first`
the time from those final cards to the model's first checked reply sentence, `reply_after_first`
the same from the preview; `total` the fully ranked, explained and written turn.

Per model call (`Recorded` wraps the recommender's model and tells each call's stage by its system
prompt): seconds, the time to the first streamed piece (the reply), and the prompt tokens sent,
the cached ones llama.cpp reused instead of evaluating, and the decoded ones. The question is
always the template's (no model call); the table says how many turns asked one.

The scripted chats can be joined by a sample of the content queries (bench/content.jsonl: the
first query of each type and language, each a fresh conversation; see `content_conversations`).

Beside the figures, the limits of the cores measured in the same run (`measure_limits`): the
model's prompt and decode tokens/s on a prompt nothing is cached for, each stage's mean call at
those rates (`limit_s`), and the encoder's items/s beside what its FLOPs per item allow.

Prints a table and writes JSON (default reports/bench_chat.json). Timings are wall-clock on
whatever machine runs it: compare numbers from one run, never assert them in tests.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convrec.chat.session import Session
from convrec.core.files import write_json
from convrec.eval.limits import embedding_limits, llm_rates, seconds_at, text_flops
from convrec.llm.base import LLM, Completion, Message, stream_text

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
MODEL_STAGES = ("parse", "propose", "rerank", "reply", "reason")
BEFORE_CARDS = ("parse", "propose", "rerank")  # the model calls the final cards wait for
TURN_LIMITS = ("retrieve", "first_results", "cards", "total")  # the turn times `turn_limits` sets a floor beside
TURN_TIMES = ("first_results", "cards", "reply_first", "reply_after_first", "write", "total")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def content_conversations(path: Path, per_kind: int = 1) -> list[list[str]]:
    """The first `per_kind` content queries of each (type, language), each a one-turn conversation
    (in file order: 10 kinds, English and Chinese, for the suite as shipped)."""
    from convrec.eval.content import read_suite

    taken: dict[tuple[str, str], int] = {}
    out = []
    for q in read_suite(path):
        if taken.get((q.type, q.lang), 0) < per_kind:
            taken[(q.type, q.lang)] = taken.get((q.type, q.lang), 0) + 1
            out.append([q.text])
    return out


@dataclass
class Call:
    """One model call: its stage, seconds, seconds to the first streamed piece, and tokens."""

    stage: str
    seconds: float
    first_s: float | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    prompt_ms: float = 0.0  # llama.cpp's own time for the evaluated prompt tokens and the decoded ones
    decode_ms: float = 0.0


class Recorded:
    """The recommender's model with every call recorded (`calls`), its stage told by the system
    prompt it starts with (`stages`: a prompt's fixed opening -> stage)."""

    def __init__(self, llm: LLM, stages: dict[str, str]) -> None:
        self.llm, self.name, self.stages = llm, llm.name, stages
        self.calls: list[Call] = []

    def stage_of(self, messages: list[Message]) -> str:
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        return next((stage for opening, stage in self.stages.items() if system.startswith(opening)), "other")

    def complete(self, messages: list[Message], **kwargs: Any) -> Completion:
        start = time.perf_counter()
        out = self.llm.complete(messages, **kwargs)
        seconds = time.perf_counter() - start
        stage, spent = self.stage_of(messages), self.spent()
        self.calls.append(
            Call(stage, seconds, None, out.prompt_tokens, out.cached_tokens, out.completion_tokens, *spent)
        )
        return out

    def spent(self) -> tuple[float, float]:
        """llama.cpp's milliseconds of prompt evaluation and of decoding in the last call (0 elsewhere)."""
        t = getattr(self.llm, "last_timings", None) or {}
        return float(t.get("prompt_ms", 0.0)), float(t.get("predicted_ms", 0.0))

    def stream(self, messages: list[Message], *, max_tokens: int = 256) -> Iterator[str]:
        """The backend's stream; the call is recorded when the reader stops (the tokens as
        llama.cpp's per-piece timings last said, the pieces counted where there are none)."""
        start, first, pieces = time.perf_counter(), None, 0
        try:
            for piece in stream_text(self.llm, messages, max_tokens=max_tokens):
                first = first if first is not None else time.perf_counter() - start
                pieces += 1
                yield piece
        finally:
            t = dict(getattr(self.llm, "last_timings", None) or {})
            cached, evaluated = int(t.get("cache_n", 0)), int(t.get("prompt_n", 0))
            seconds = time.perf_counter() - start
            decoded = int(t.get("predicted_n", pieces))
            stage, spent = self.stage_of(messages), self.spent()
            self.calls.append(Call(stage, seconds, first, cached + evaluated, cached, decoded, *spent))


def prompt_openings(recommender: Any) -> dict[str, str]:
    """A prompt's fixed opening (its text before any per-message {placeholder}) -> its stage."""
    return {p.split("{")[0]: stage for stage, ps in recommender.prompts.items() for p in ps}


def bench_chat(recommender: Any, conversations: list[list[str]] = CONVERSATIONS) -> dict[str, Any]:
    """Run `conversations` through `recommender.stream`, timing each turn and each model call."""
    model = recommender.llm
    recorded = Recorded(model, prompt_openings(recommender)) if model is not None else None
    recommender.llm = recorded if recorded is not None else model
    try:
        turns = [_turn(recommender, recorded, session, text) for session, text in _script(conversations)]
    finally:
        recommender.llm = model
    stages = list(dict.fromkeys(s for t in turns for s in t["timings_ms"]))
    summary: dict[str, Any] = {}
    for s in stages:
        values = [t["timings_ms"][s] for t in turns if t["timings_ms"].get(s) is not None]
        summary[s] = {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}
        summary[s]["n"] = len(values)
    for key in ("prompt_tokens", "completion_tokens"):
        values = [float(t[key]) for t in turns]
        summary[key] = {"p50": percentile(values, 50), "p95": percentile(values, 95), "mean": float(np.mean(values))}
    calls = [c for t in turns for c in t["calls"]]
    limits = measure_limits(recommender, model)
    model_calls = summarise_calls(calls)
    for row in model_calls.values():
        if (at := seconds_at(limits.get("llm", {}), row["evaluated_tokens"], row["decoded_tokens"])) is not None:
            row["limit_s"] = at
    if gflops := limits["embedding"].get("cpu_gflops"):
        for t in turns:
            encode_ms = (text_flops(recommender.encoder, t["text"]) or 0.0) / (gflops * 1e9) * 1000
            t["limit_ms"] = turn_limits(t["calls"], limits.get("llm", {}), encode_ms)
        for s in TURN_LIMITS:
            summary[s]["limit_p50_ms"] = round(percentile([t["limit_ms"][s] for t in turns], 50), 1)
    return {
        "turns": len(turns),
        "summary": summary,
        "model_calls": model_calls,
        "limits": limits,
        "questions": sum(t["question"] is not None for t in turns),
        "config": {
            "llm": model.name if model is not None else None,
            "llm_reranks": recommender.llm_reranks,
            "llm_replies": recommender.llm_replies,
            "llm_reasons": recommender.settings.llm_reasons,
            "llm_slots": getattr(model, "slots", None),
            "llm_cache_prompt": getattr(model, "cache_prompt", None),
            "cf": recommender.cf.name,
        },
        "machine": {"python": platform.python_version(), "processor": platform.processor(), "cpus": _cpus()},
        "details": turns,
    }


def measure_limits(recommender: Any, model: LLM | None, items: int = 256) -> dict[str, Any]:
    """What the cores can do, measured after the turns: the model's prompt and decode rates on a
    prompt nothing is cached for (the embedded model; its `limit_s` per stage is the mean call's
    tokens at those rates), and the encoder's items/s on catalogue texts beside the items/s its
    FLOPs per item allow at the CPU's measured GFLOP/s."""
    from convrec.data.documents import item_text

    out: dict[str, Any] = {}
    if model is not None and hasattr(model, "last_timings"):
        out["llm"] = llm_rates(model)
    ids = recommender.catalog.ids()[:items]
    out["embedding"] = embedding_limits(
        recommender.encoder, [item_text(recommender.catalog.get(int(i)), "") for i in ids]
    )
    return out


def _script(conversations: list[list[str]]) -> Iterator[tuple[Session, str]]:
    for conv in conversations:
        session = Session()
        for text in conv:
            yield session, text


def _turn(recommender: Any, recorded: Recorded | None, session: Session, text: str) -> dict[str, Any]:
    """One turn's timings (ms, None where it did not happen), tokens, model calls and answer."""
    made = len(recorded.calls) if recorded is not None else 0
    start = time.perf_counter()
    at: dict[str, float | None] = {"first_results": None, "cards": None, "reply_llm": None}
    for turn in recommender.stream(session, text):
        now = (time.perf_counter() - start) * 1000
        at["first_results"] = at["first_results"] if at["first_results"] is not None else now
        if turn.info.get("final") and at["cards"] is None:
            at["cards"] = now
        if at["reply_llm"] is None and turn.info.get("reply_source") == "llm":
            at["reply_llm"] = now
    total = (time.perf_counter() - start) * 1000
    cards, first, reply = at["cards"], at["first_results"], at["reply_llm"]
    times = {
        "first_results": first,
        "cards": cards,
        "reply_first": reply - cards if reply is not None and cards is not None else None,
        "reply_after_first": reply - first if reply is not None and first is not None else None,
        "write": turn.timings_ms.get("write"),
        "total": total,
    }
    calls = recorded.calls[made:] if recorded is not None else []
    return {
        "text": text,
        "timings_ms": {**{k: v for k, v in turn.timings_ms.items() if k != "write"}, **times},
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
        "calls": [asdict(c) for c in calls],
        "parse_source": turn.info.get("parse_source"),
        "reply_source": turn.info.get("reply_source"),
        "question": turn.question,
        "degraded": turn.info.get("degraded"),
        "items": [r.item.label() for r in turn.recs],
    }


def turn_limits(calls: list[dict[str, Any]], llm_rates: dict[str, float], encode_ms: float) -> dict[str, float]:
    """The least ms a turn's times could take at the rates measured in the run: the request's
    encoder FLOPs at the CPU's GFLOP/s (`encode_ms`: the retrieval and the preview), plus the model calls the cards
    wait for at the model's prompt and decode rates (the cards), plus all of its calls (the turn).

    >>> parse = {"stage": "parse", "prompt_tokens": 50, "cached_tokens": 10, "completion_tokens": 20}
    >>> turn_limits([parse, {**parse, "stage": "reply"}], {"prompt_per_s": 40.0, "decode_per_s": 16.0}, 2.0)
    {'retrieve': 2.0, 'first_results': 2.0, 'cards': 2252.0, 'total': 4502.0}
    """

    def model_ms(stages: tuple[str, ...]) -> float:
        at = [
            seconds_at(llm_rates, c["prompt_tokens"] - c["cached_tokens"], c["completion_tokens"]) or 0.0
            for c in calls
            if c["stage"] in stages
        ]
        return 1000 * sum(at)

    return {
        "retrieve": round(encode_ms, 2),  # it encodes the request
        "first_results": round(encode_ms, 2),
        "cards": round(encode_ms + model_ms(BEFORE_CARDS), 2),
        "total": round(encode_ms + model_ms((*MODEL_STAGES, "other")), 2),
    }


def summarise_calls(calls: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage: calls, p50/p95 seconds, p50 seconds to the first piece, mean tokens per call."""
    out: dict[str, dict[str, float]] = {}
    for stage in [*MODEL_STAGES, "other"]:
        mine = [c for c in calls if c["stage"] == stage]
        if not mine:
            continue
        secs = [c["seconds"] for c in mine]
        firsts = [c["first_s"] for c in mine if c["first_s"] is not None]
        out[stage] = {
            "calls": len(mine),
            "p50_s": round(percentile(secs, 50), 2),
            "p95_s": round(percentile(secs, 95), 2),
            **({"first_piece_p50_s": round(percentile(firsts, 50), 2)} if firsts else {}),
            "prompt_tokens": round(float(np.mean([c["prompt_tokens"] for c in mine])), 1),
            "cached_tokens": round(float(np.mean([c["cached_tokens"] for c in mine])), 1),
            "evaluated_tokens": round(float(np.mean([c["prompt_tokens"] - c["cached_tokens"] for c in mine])), 1),
            "decoded_tokens": round(float(np.mean([c["completion_tokens"] for c in mine])), 1),
            **rates(mine),
        }
    return out


def rates(calls: list[dict[str, Any]]) -> dict[str, float]:
    """Prompt tokens evaluated and tokens decoded per second, as llama.cpp timed them (how loaded
    the cores were: 36 and 11 on 2 idle cores for the 1.5B Q4_K_M model); empty without timings."""
    evaluated = sum(c["prompt_tokens"] - c["cached_tokens"] for c in calls)
    prompt_ms, decode_ms = sum(c["prompt_ms"] for c in calls), sum(c["decode_ms"] for c in calls)
    out = {}
    if prompt_ms > 0:
        out["prompt_per_s"] = round(evaluated / prompt_ms * 1000, 1)
    if decode_ms > 0:
        out["decode_per_s"] = round(sum(c["completion_tokens"] for c in calls) / decode_ms * 1000, 1)
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def print_table(result: dict[str, Any]) -> None:
    """The turn's stages and times (ms), then the model's calls per stage (s, mean tokens per call)."""
    print(f"{result['turns']} turns ({result['config']})")
    print(f"{'stage':<20}{'p50 ms':>12}{'limit ms':>10}{'p95 ms':>12}{'n':>6}")
    for stage, row in result["summary"].items():
        if "p50_ms" in row:
            limit = f"{row['limit_p50_ms']:>10.1f}" if "limit_p50_ms" in row else f"{'-':>10}"
            print(f"{stage:<20}{row['p50_ms']:>12.1f}{limit}{row['p95_ms']:>12.1f}{row['n']:>6}")
    for key in ("prompt_tokens", "completion_tokens"):
        row = result["summary"][key]
        print(f"{key + ' /turn':<20}{row['p50']:>12.0f}{row['p95']:>12.0f}")
    head = (
        "calls",
        "p50 s",
        "limit s",
        "p95 s",
        "1st s",
        "prompt",
        "cached",
        "evaluated",
        "decoded",
        "eval/s",
        "dec/s",
    )
    print(f"\n{'model call':<12}" + "".join(f"{h:>10}" for h in head))
    for stage, row in result["model_calls"].items():
        first = f"{row['first_piece_p50_s']:>10.2f}" if "first_piece_p50_s" in row else f"{'-':>10}"
        print(
            f"{stage:<12}{row['calls']:>10.0f}{row['p50_s']:>10.2f}{row.get('limit_s', float('nan')):>10.2f}"
            f"{row['p95_s']:>10.2f}{first}"
            f"{row['prompt_tokens']:>10.1f}{row['cached_tokens']:>10.1f}{row['evaluated_tokens']:>10.1f}"
            f"{row['decoded_tokens']:>10.1f}{row.get('prompt_per_s', 0):>10.1f}{row.get('decode_per_s', 0):>10.1f}"
        )
    print(f"{'question':<12}{'template, no model call':>40}; asked in {result['questions']} of {result['turns']} turns")
    limits = result.get("limits", {})
    if rates := limits.get("llm"):
        print(
            f"limits, same run: the model evaluates {rates['prompt_per_s']} prompt tokens/s and decodes "
            f"{rates['decode_per_s']}/s on a prompt nothing is cached for (limit s: a mean call at those rates)"
        )
    if (e := limits.get("embedding")) and "limit_items_per_s" in e:
        print(
            f"encoder ({e['backend']}): {e['items_per_s']} items/s on {e['items']} catalogue texts; "
            f"{e['gflop_per_item']} GFLOP an item at {e['cpu_gflops']} GFLOP/s allows {e['limit_items_per_s']}"
        )
        print(
            "limit ms (p50 over the turns): the request's encoder FLOPs at that rate (retrieve, first results), plus "
            "the model calls the cards wait for (cards) and all of its calls (total) at the model's rates"
        )


# -- the command line (`convrec bench chat`, wired in by cli.py) -------------------------------


def add_bench_cli(bench_subparsers: Any) -> None:
    """`convrec bench chat`."""
    bc = bench_subparsers.add_parser("chat", help="per-stage latency and LLM tokens over scripted multi-turn chats")
    bc.add_argument("--json", action="store_true", help="print the summary as JSON")
    bc.add_argument("--out", type=Path, default=Path("reports/bench_chat.json"))
    bc.add_argument("--limit", type=int, default=None, help="only the first N scripted conversations")
    bc.add_argument("--content", type=Path, default=Path("bench/content.jsonl"), help="content queries to add")
    bc.add_argument("--content-per-kind", type=int, default=1, help="content queries per type and language (0: none)")
    bc.set_defaults(func=cmd_bench_chat)


def cmd_bench_chat(args: Any) -> int:
    from convrec.chat.load import load_recommender
    from convrec.core.config import settings_from_args

    script = CONVERSATIONS[: args.limit] if args.limit is not None else CONVERSATIONS
    if args.content_per_kind:
        script = script + content_conversations(args.content, args.content_per_kind)
    result = bench_chat(load_recommender(settings_from_args(args)), script)
    write_json(args.out, result)
    if args.json:
        print(json.dumps(result["summary"], indent=2))
    else:
        print_table(result)
        print(f"wrote {args.out}")
    return 0
