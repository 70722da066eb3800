"""The negation suite: phrasings whose genres are written by hand from their plain meaning (never
taken from the parser), read by the rules alone, scored per language and per kind of phrasing.

Each line of the suite file is `{"id", "lang", "kind", "text", "include": [...], "exclude": [...]}`
with an optional `"soft": [...]`. A phrasing is right when `parse_rules` includes exactly the
genres of `include` and excludes exactly those of `exclude` (order aside), and puts no genre of
`soft` ("not too scary") in either list: a soft wish is a preference, never a filter. How many soft
genres became a preference (`avoid_genres`) is counted beside, not scored.

Kinds in bench/negations.jsonl: plain negations, two genres at once, rhetorical questions ("isn't
there a good comedy?"), hedges ("I don't know, maybe a comedy"), idioms ("non-stop action"),
"why not", "not too", "anything but", "nothing beats", scope ("no horror, but a comedy"), "not
only" and past experience ("I never used to like westerns").
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from convrec.core.errors import InputError
from convrec.core.files import write_json
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules

REQUIRED = ("id", "lang", "kind", "text", "include", "exclude")


def read_suite(path: Path) -> list[dict[str, Any]]:
    """The suite's phrasings, one JSON object a line; a malformed line is an error naming it."""
    cases = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as e:
            raise InputError(f"{path} line {n}: not JSON ({e})") from e
        missing = [k for k in REQUIRED if not isinstance(case, dict) or k not in case]
        if missing:
            raise InputError(f"{path} line {n}: missing {', '.join(missing)}")
        cases.append(case)
    return cases


def check(case: dict[str, Any], genres: tuple[str, ...] = MOVIELENS_GENRES) -> dict[str, Any]:
    """What the rules read in one phrasing and whether that is what it means.

    >>> check({"text": "no horror please", "include": [], "exclude": ["Horror"]})["ok"]
    True
    """
    u = parse_rules(case["text"], genres)
    soft = set(case.get("soft", ()))
    got_in, got_out = set(u.include_genres), set(u.exclude_genres)
    ok = got_in == set(case["include"]) and got_out == set(case["exclude"]) and not soft & (got_in | got_out)
    return {
        "ok": ok,
        "include": list(u.include_genres),
        "exclude": list(u.exclude_genres),
        "avoid": list(u.avoid_genres),
    }


def run_suite(cases: list[dict[str, Any]], genres: tuple[str, ...] = MOVIELENS_GENRES) -> dict[str, Any]:
    """Accuracy over all phrasings, per language and per (language, kind), with every failure."""
    tally: dict[str, dict[str, list[int]]] = {"lang": defaultdict(lambda: [0, 0]), "kind": defaultdict(lambda: [0, 0])}
    failures = []
    soft_total = soft_avoided = 0
    for case in cases:
        got = check(case, genres)
        for key, name in (("lang", case["lang"]), ("kind", f"{case['lang']}/{case['kind']}")):
            tally[key][name][0] += got["ok"]
            tally[key][name][1] += 1
        soft = set(case.get("soft", ()))
        soft_total += len(soft)
        soft_avoided += len(soft & set(got["avoid"]))
        if not got["ok"]:
            failures.append(
                {k: case.get(k) for k in ("id", "kind", "text", "include", "exclude", "soft")} | {"got": got}
            )
    right = len(cases) - len(failures)

    def rows(counts: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
        return {k: {"right": r, "n": n, "accuracy": round(r / n, 4)} for k, (r, n) in sorted(counts.items())}

    return {
        "accuracy": round(right / max(len(cases), 1), 4),
        "right": right,
        "n": len(cases),
        "per_language": rows(tally["lang"]),
        "per_kind": rows(tally["kind"]),
        "soft_avoided": {"avoided": soft_avoided, "soft": soft_total},
        "failures": failures,
    }


def print_report(report: dict[str, Any], max_failures: int = 30) -> None:
    """The table: per language, per kind, overall, then the first failures."""
    print(f"{'language':<22}{'right':>7}{'n':>6}{'accuracy':>10}")
    for name, row in report["per_language"].items():
        print(f"{name:<22}{row['right']:>7}{row['n']:>6}{row['accuracy']:>10.1%}")
    print(f"{'kind':<22}{'right':>7}{'n':>6}{'accuracy':>10}")
    for name, row in report["per_kind"].items():
        print(f"{name:<22}{row['right']:>7}{row['n']:>6}{row['accuracy']:>10.1%}")
    print(f"{'all':<22}{report['right']:>7}{report['n']:>6}{report['accuracy']:>10.1%}")
    soft = report["soft_avoided"]
    print(f"soft wishes kept as a preference (avoid_genres): {soft['avoided']} of {soft['soft']}")
    for f in report["failures"][:max_failures]:
        got = f["got"]
        print(
            f"  WRONG {f['id']} {f['text']!r}: read +{got['include']} -{got['exclude']}, "
            f"means +{f['include']} -{f['exclude']}" + (f" soft {f['soft']}" if f.get("soft") else "")
        )


# -- the command line (`convrec eval negations`, wired in by cli.py) ---------------------------


def add_eval_cli(eval_subparsers: Any) -> None:
    """`convrec eval negations`."""
    en = eval_subparsers.add_parser(
        "negations", help="genres the rules read in hand-written phrasings of (not) wanting them"
    )
    en.add_argument("--suite", type=Path, default=Path("bench/negations.jsonl"))
    en.add_argument("--json", action="store_true", help="print the summary as JSON")
    en.add_argument("--out", type=Path, default=Path("reports/negations.json"))
    en.set_defaults(func=cmd_eval_negations)


def cmd_eval_negations(args: Any) -> int:
    report = run_suite(read_suite(args.suite))
    report["suite"] = str(args.suite)
    write_json(args.out, report)
    if args.json:
        print(json.dumps({k: report[k] for k in ("accuracy", "right", "n", "per_language", "per_kind")}, indent=2))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0 if report["right"] == report["n"] else 1
