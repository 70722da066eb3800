"""`convrec eval constraints`: the constraint suite (`convrec.eval.constraints`) in process, through
`convrec recommend` or through the chat API of a server on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convrec.core.files import write_json
from convrec.eval.constraints import in_process, print_report, run_suite, through_chat_api, through_cli


def add_eval_cli(eval_subparsers: Any) -> None:
    """`convrec eval constraints`."""
    ec = eval_subparsers.add_parser("constraints", help="share of top-k items that satisfy every stated constraint")
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


def cmd_eval_constraints(args: Any) -> int:
    from convrec.chat.load import load_recommender
    from convrec.core.config import settings_from_args

    rec = load_recommender(settings_from_args(args))
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
    write_json(args.out, report)
    if args.json:
        print(json.dumps({k: report[k] for k in ("satisfied", "items", "per_type", "reasons_checked")}, indent=2))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0
