"""`convrec eval cf|hybrid|longtail`: the command line of the collaborative evaluations (wired into
`convrec eval` by cli.py). Each command prints a table and writes JSON under reports/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from convrec.core.errors import CatalogError
from convrec.core.files import write_json
from convrec.eval.cf import (
    DEFAULT_PROTOCOL,
    ENGINE_MODELS,
    MODELS,
    plot_cf,
    run_protocol,
    summary,
    table,
)
from convrec.eval.splits import SEED

# --------------------------------------------------------------------------------------------
# The command line (wired into `convrec eval` by cli.py)


def cmd_eval_cf(args: argparse.Namespace) -> int:
    protocol = args.protocol or DEFAULT_PROTOCOL.get(Path(args.dataset).name, "leave-last-out")
    models = (
        [m for m in MODELS if m not in ENGINE_MODELS]
        if args.models == "all"
        else [m.strip() for m in args.models.split(",")]
    )
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise CatalogError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    result = run_protocol(
        args.dataset, protocol, models, stratify=args.stratify, seed=args.seed, tune=args.tune, data_dir=args.data_dir
    )
    out = (
        args.out
        or Path("reports")
        / f"eval_cf_{Path(args.dataset).name}_{protocol}{'_' + args.stratify if protocol == 'stratified' else ''}.json"
    )
    write_json(out, result)
    plot_cf(result, out.with_suffix(".png"))
    print(table(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(summary(result)))
    else:
        print(f"best: {result['best']}; wrote {out}")
    return 0


def cmd_eval_hybrid(args: argparse.Namespace) -> int:
    from convrec.eval.hybrid import run_hybrid

    result = run_hybrid(args.dataset, data_dir=args.data_dir, seed=args.seed, out_dir=args.out_dir)
    print(json.dumps(result["summary"], indent=None if args.json else 2))
    return 0


def cmd_eval_longtail(args: argparse.Namespace) -> int:
    from convrec.eval.longtail import run_longtail

    result = run_longtail(args.dataset, data_dir=args.data_dir, seed=args.seed, out_dir=args.out_dir)
    print(json.dumps(result["summary"], indent=None if args.json else 2))
    return 0


def add_eval_cli(sub: Any) -> None:
    """Register `cf`, `hybrid` and `longtail` on the `convrec eval` subparsers."""
    cf = sub.add_parser("cf", help="collaborative scorers under a published protocol")
    cf.add_argument("--dataset", default="ml-100k", help="ml-100k, ml-latest-small or a MovieLens directory")
    cf.add_argument(
        "--protocol",
        choices=["stratified", "leave-last-out", "chat"],
        help="default: stratified for ml-100k, else leave-last-out",
    )
    cf.add_argument(
        "--stratify", choices=["user", "item"], default="user", help="stratified split per user (default) or per item"
    )
    cf.add_argument(
        "--models",
        default="all",
        help=f"comma-separated, from {', '.join(MODELS)} (default all but {', '.join(ENGINE_MODELS)})",
    )
    cf.add_argument(
        "--tune", action="store_true", help="choose parameters on a validation split of the training data first"
    )
    cf.add_argument("--seed", type=int, default=SEED)
    cf.add_argument("--data-dir", type=Path, help="where data sets live (default ../shared/data, then the cache)")
    cf.add_argument(
        "--out", type=Path, help="JSON with every model (default reports/eval_cf_<dataset>_<protocol>.json)"
    )
    cf.add_argument(
        "--json", action="store_true", help="print the best model's metrics as one JSON line (table to stderr)"
    )
    cf.set_defaults(func=cmd_eval_cf)
    for name, func, text in (
        ("hybrid", cmd_eval_hybrid, "text need + liked items on ml-latest-small: text, CF and blend Recall@10"),
        ("longtail", cmd_eval_longtail, "diversity/novelty re-ranking: accuracy vs coverage trade-off"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dataset", default="ml-latest-small")
        p.add_argument("--seed", type=int, default=SEED)
        p.add_argument("--data-dir", type=Path)
        p.add_argument("--out-dir", type=Path, default=Path("reports"))
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
