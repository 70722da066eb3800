"""`convrec eval content`: does the recommender understand what films are about?

The suite (bench/content.jsonl) holds requests about topics ("a good heist movie"), moods ("something
uplifting after a rough week"), "like X", "like X but Y" and temporal words ("a comedy from this
century"), a third of them in Chinese, each with a relevance list written by hand from knowledge of the
films, never from convrec's answers. A line is `{"id", "type", "lang", "text", "relevant": ["Title
(Year)", ...], "rule": {"genres": [...], "exclude": [...], "years": [lo, hi]}, "liked": "Title (Year)", "set":
"knowledge"}`; an item is relevant when it is listed or satisfies the rule (every key of it that is given). A
query's `set` (default "core") is reported apart: "knowledge" marks requests that only knowledge of what films
are about answers (a submarine, a time loop, a road trip: no title or genre says so).

Each request is one fresh conversation; precision@5 is the share of the top five that are relevant (a
short list counts its missing places as misses). Reported per type and per language, with the share
of listed titles the catalogue holds (a title it lacks can never be returned).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convrec.core.files import write_json
from convrec.core.types import Item
from convrec.data.catalog import Catalog

K = 5


@dataclass(frozen=True)
class Query:
    id: str
    type: str
    lang: str
    text: str
    relevant: tuple[str, ...] = ()
    rule: dict[str, Any] = field(default_factory=dict)
    liked: str | None = None
    set: str = "core"


def read_suite(path: Path) -> list[Query]:
    """The suite's queries; a line that is not a query object is an error naming the line."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            relevant, rule = tuple(d.get("relevant", ())), d.get("rule") or {}
            out.append(
                Query(d["id"], d["type"], d["lang"], d["text"], relevant, rule, d.get("liked"), d.get("set", "core"))
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path} line {n}: not a content query ({e})") from None
    return out


def satisfies(item: Item, rule: dict[str, Any]) -> bool:
    """Whether `item` meets every part of `rule` that is given (an empty rule is met by nothing).

    >>> satisfies(Item(1, "A", 2005, ("Comedy",)), {"genres": ["Comedy"], "years": [2000, 2016]})
    True
    >>> satisfies(Item(1, "A", 1995, ("Comedy",)), {"genres": ["Comedy"], "years": [2000, 2016]})
    False
    """
    if not rule:
        return False
    if any(g not in item.genres for g in rule.get("genres", ())):
        return False
    if any(g in item.genres for g in rule.get("exclude", ())):
        return False
    lo, hi = rule.get("years") or (None, None)
    if (lo is not None or hi is not None) and item.year is None:
        return False
    return (lo is None or item.year >= lo) and (hi is None or item.year <= hi)


def label_index(catalog: Catalog) -> dict[str, int]:
    """ "Title (Year)" as the catalogue prints it -> item id."""
    return {item.label(): item.item_id for item in catalog.items.values()}


def precision(returned: Sequence[Item], query: Query, relevant_ids: set[int], k: int = K) -> float:
    """Relevant items in the first k, over k.

    >>> q = Query("q", "topic", "en", "x", rule={"genres": ["War"]})
    >>> precision([Item(1, "A", genres=("War",)), Item(2, "B")], q, {2}, k=5)
    0.4
    """
    hits = sum(1 for it in returned[:k] if it.item_id in relevant_ids or satisfies(it, query.rule))
    return hits / k


Recommend = Callable[[str], list[Item]]  # a request -> the items answered, best first


def run_suite(queries: Sequence[Query], recommend: Recommend, catalog: Catalog, k: int = K) -> dict[str, Any]:
    """Precision@k of every query, and its means overall, per type, per language and per both."""
    labels = label_index(catalog)
    rows = []
    for q in queries:
        ids = {labels[t] for t in q.relevant if t in labels}
        items = recommend(q.text)
        p = precision(items, q, ids, k)
        row: dict[str, Any] = {"id": q.id, "type": q.type, "lang": q.lang, "set": q.set, "text": q.text}
        row[f"precision@{k}"] = p
        row.update(returned=[it.label() for it in items[:k]], relevant_in_catalogue=len(ids))
        rows.append({**row, "relevant_listed": len(q.relevant)})

    def mean(group: list[dict[str, Any]]) -> float:
        return round(sum(r[f"precision@{k}"] for r in group) / max(len(group), 1), 4)

    groups: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: defaultdict(list)
        for name in ("per_type", "per_language", "per_type_language", "per_set", "per_set_language")
    }
    for r in rows:
        groups["per_type"][r["type"]].append(r)
        groups["per_language"][r["lang"]].append(r)
        groups["per_type_language"][f"{r['type']}/{r['lang']}"].append(r)
        groups["per_set"][r["set"]].append(r)
        groups["per_set_language"][f"{r['set']}/{r['lang']}"].append(r)
    listed = sum(r["relevant_listed"] for r in rows)
    return {
        f"precision@{k}": mean(rows),
        "queries": len(rows),
        **{name: {key: mean(g) for key, g in sorted(group.items())} for name, group in groups.items()},
        "listed_titles_in_catalogue": round(sum(r["relevant_in_catalogue"] for r in rows) / max(listed, 1), 4),
        "rows": rows,
    }


def print_report(report: dict[str, Any], k: int = K) -> None:
    key = f"precision@{k}"
    print(f"content suite: {report['queries']} queries, {key} {report[key]:.3f}")
    print(f"{'type':<10} {'en':>6} {'zh':>6} {'all':>6}")
    for t, value in report["per_type"].items():
        en, zh = (report["per_type_language"].get(f"{t}/{lang}") for lang in ("en", "zh"))
        print(f"{t:<10} {_fmt(en):>6} {_fmt(zh):>6} {value:>6.3f}")
    langs = report["per_language"]
    print(f"{'all':<10} {_fmt(langs.get('en')):>6} {_fmt(langs.get('zh')):>6} {report[key]:>6.3f}")
    for name, value in report["per_set"].items():
        en, zh = (report["per_set_language"].get(f"{name}/{lang}") for lang in ("en", "zh"))
        print(f"{'set ' + name:<10} {_fmt(en):>6} {_fmt(zh):>6} {value:>6.3f}")
    print(f"listed titles the catalogue holds: {report['listed_titles_in_catalogue']:.1%}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def add_eval_cli(eval_subparsers: Any) -> None:
    """`convrec eval content` (wired in by cli.py)."""
    p = eval_subparsers.add_parser("content", help="precision@5 on hand-judged requests about topics, moods, like X")
    p.add_argument("--suite", type=Path, default=Path("bench/content.jsonl"))
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--out", type=Path, default=Path("reports/content.json"))
    p.set_defaults(func=cmd_eval_content)


def cmd_eval_content(args: Any) -> int:
    from convrec.chat.load import load_recommender
    from convrec.chat.session import Session
    from convrec.core.config import settings_from_args

    rec = load_recommender(settings_from_args(args))

    def recommend(text: str) -> list[Item]:
        return [r.item for r in rec.recommend(Session(), text, k=K).recs]

    report = run_suite(read_suite(args.suite), recommend, rec.catalog)
    report.update(suite=str(args.suite), llm=rec.llm.name if rec.llm else "none", catalog=rec.catalog.name)
    write_json(args.out, report)
    if args.json:
        print(json.dumps({key: v for key, v in report.items() if key != "rows"}, indent=2, ensure_ascii=False))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0
