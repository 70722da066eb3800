"""`convrec eval explanations`: do the reasons and replies say something true and specific?

Runs the constraint suite (bench/constraints.jsonl, multi-turn chats) and the content queries
(bench/content.jsonl) in-process, then checks every turn, per language of the turn:
- unsupported claims: reasons (and replies) stating a year, decade, genre or title their records
  do not support (`explain.unsupported_claims`, `reply.reply_claims`);
- reasons naming a match: the share of reasons that name an asked genre the item has, its year
  inside the asked period, a request word its record holds, the request's quoted topic, or a
  liked title; checked here from the reason's words, not taken from how it was built;
- distinct reasons per answer: reasons that differ once titles, years and numbers are masked;
- replies naming a title not on the list (titles the person named, and their own quoted words,
  excepted).

Also answers a few vague and impossible requests and prints their replies and questions, and
with `--model-reply N` times the embedded model writing the reply for N requests (what decides
whether it does so by default): seconds from the template answer to the model's first checked
sentence and to its last, llama.cpp's own prompt and decoding times, and how many were accepted.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from convrec.chat.session import Session
from convrec.core.files import write_json
from convrec.core.types import Item, Needs
from convrec.lang import genre_names
from convrec.rank.explain import masked, unsupported_claims
from convrec.rank.reply import TitleSpotter, reply_claims

EXAMPLES = ("recommend me something", "随便推荐一部", "a 1950s anime horror musical", "一部五十年代的恐怖动画歌舞片")

Answer = Callable[[Session, str], Any]  # (session, text) -> a Turn


def conversations(constraints: Path, content: Path) -> list[list[str]]:
    """Every chat of both suites as its list of messages (a content query is a one-turn chat)."""
    chats = []
    for path, key in ((constraints, "turns"), (content, None)):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                chats.append([t["text"] for t in case[key]] if key else [case["text"]])
    return chats


def names_match(why: str, item: Item, needs: Needs, named: Sequence[str]) -> bool:
    """Whether a reason names something of this request that the item matches (see the module docstring).

    >>> names_match("Comedy from 1996.", Item(1, "A", 1996, ("Comedy",)), Needs(include_genres=("Comedy",)), [])
    True
    >>> names_match("Drama from 1996.", Item(1, "A", 1996, ("Comedy", "Drama")), Needs(include_genres=("Comedy",)), [])
    False
    """
    low = why.casefold()
    for g in (*needs.include_genres, *needs.prefer_genres):
        if g in item.genres and (
            re.search(rf"\b{re.escape(g.casefold())}", low) or any(n in why for n in genre_names(g))
        ):
            return True
    lo, hi = needs.year_min, needs.year_max
    if (lo or hi) and item.year and (lo is None or item.year >= lo) and (hi is None or item.year <= hi):
        if str(item.year) in why:
            return True
    record = " ".join([item.title, *item.tags, *item.people, item.text]).casefold()
    for kw in needs.keywords:
        stem = kw.casefold()[:-1] if kw.endswith("s") and len(kw) > 4 else kw.casefold()
        if len(stem) >= 3 and stem in low and stem in record:
            return True
    if any(q.casefold() in needs.text.casefold() for q in re.findall(r"“(.+?)”", why)):
        return True
    return any(t and t in why for t in named)


def matches(item: Item, needs: Needs) -> bool:
    """Whether the item's record meets anything the request asked for (an asked or preferred genre,
    the period, a request word), whatever its reason says (a liked title counts where it names it).

    >>> matches(Item(1, "A", 1996, ("Comedy",)), Needs(keywords=("heist",))), matches(Item(1, "Heist"), Needs(keywords=("heist",)))
    (False, True)
    """
    if any(g in item.genres for g in (*needs.include_genres, *needs.prefer_genres)):
        return True
    lo, hi = needs.year_min, needs.year_max
    if (lo or hi) and item.year and (lo is None or item.year >= lo) and (hi is None or item.year <= hi):
        return True
    record = " ".join([item.title, *item.tags, *item.people, item.text]).casefold()
    return any(len(k) >= 3 and k.casefold().rstrip("s") in record for k in needs.keywords)


def check_turn(turn: Any, spotter: TitleSpotter, genres: Sequence[str], named: dict[int, str]) -> dict[str, Any]:
    """The numbers of one turn (see the module docstring)."""
    titles = [r.item.title for r in turn.recs]
    names = [named[i] for i in (*turn.needs.liked, *turn.needs.disliked) if i in named]
    unsupported = []
    words = [*names, *turn.needs.keywords, *re.findall(r"“(.+?)”", " ".join(r.why for r in turn.recs))]
    words = [w for w in words if w in names or w.casefold() in turn.needs.text.casefold() or w in turn.needs.keywords]
    for r in turn.recs:
        flagged = unsupported_claims(r.why, r.item, genres, titles, words)
        if flagged:
            unsupported.append({"item": r.item.title, "why": r.why, "flagged": flagged})
    reply = turn.reply + " " + (turn.question or "")
    reply_problems = reply_claims(reply, turn.recs, turn.needs, spotter, genres, names)
    quoted = [q for q in re.findall(r"“(.+?)”", reply) if q.casefold() in turn.needs.text.casefold()]
    said = reply
    for q in quoted:
        said = said.replace(q, " ")
    off_list = [t for t in spotter.find(said) if t not in titles and t not in names]
    matched = [names_match(r.why, r.item, turn.needs, names) for r in turn.recs]
    matching = [m or matches(r.item, turn.needs) for r, m in zip(turn.recs, matched)]
    return {
        "language": turn.needs.language,
        "reasons": len(turn.recs),
        "unsupported": unsupported,
        "reply_problems": reply_problems,
        "matched": sum(matched),
        "matching": sum(matching),
        "unmatched": [{"item": r.item.title, "why": r.why} for r, m in zip(turn.recs, matched) if not m],
        "distinct": len({masked(r.why, [*titles, *names]) for r in turn.recs}),
        "off_list_titles": off_list,
        "question": turn.question,
    }


def run(
    answer: Answer, chats: Sequence[Sequence[str]], spotter: TitleSpotter, genres: Sequence[str], named: dict[int, str]
) -> dict[str, Any]:
    """Every turn of `chats` answered and checked; the numbers per language and overall."""
    rows = []
    for chat in chats:
        session = Session()
        for text in chat:
            turn = answer(session, text)
            rows.append({"text": text, "reply": turn.reply, **check_turn(turn, spotter, genres, named)})
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["language"]].append(r)
        groups["all"].append(r)
    return {"per_language": {lang: summarise(g) for lang, g in sorted(groups.items())}, "rows": rows}


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    reasons = sum(r["reasons"] for r in rows)
    full = [r for r in rows if r["reasons"]]
    return {
        "turns": len(rows),
        "reasons": reasons,
        "unsupported_claims": sum(len(r["unsupported"]) for r in rows) + sum(bool(r["reply_problems"]) for r in rows),
        "naming_a_match": round(sum(r["matched"] for r in rows) / max(reasons, 1), 4),
        "naming_a_match_of_matching_items": round(
            sum(r["matched"] for r in rows) / max(sum(r["matching"] for r in rows), 1), 4
        ),
        "distinct_per_answer": f"{min((r['distinct'] for r in full), default=0)}/{max((r['reasons'] for r in full), default=0)}",
        "answers_all_distinct": round(sum(r["distinct"] == r["reasons"] for r in full) / max(len(full), 1), 4),
        "replies_naming_off_list_titles": sum(bool(r["off_list_titles"]) for r in rows),
        "questions": sum(bool(r["question"]) for r in rows),
    }


def examples(answer: Answer, texts: Sequence[str] = EXAMPLES) -> list[dict[str, Any]]:
    """The replies and questions to the vague and impossible requests (each a fresh chat)."""
    out = []
    for text in texts:
        turn = answer(Session(), text)
        out.append(
            {"text": text, "reply": turn.reply, "question": turn.question, "items": [r.item.label() for r in turn.recs]}
        )
    return out


def bench_reply(rec: Any, texts: Sequence[str]) -> dict[str, Any]:
    """What the model's reply costs after the template answer (see the module docstring)."""
    rows = []
    for text in texts:
        start = time.perf_counter()
        final_at = first_at = None
        for turn in rec.stream(Session(), text):
            now = time.perf_counter() - start
            final_at = now if final_at is None and turn.info.get("final") else final_at
            if first_at is None and turn.info.get("reply_source") == "llm":
                first_at = now
        timings = dict(getattr(rec.llm, "last_timings", {}) or {})
        rows.append(
            {
                "text": text,
                "reply": turn.reply,
                "source": turn.info.get("reply_source"),
                "rejected": turn.info.get("rejected_reply"),
                "first_sentence_s": round(first_at - final_at, 2) if first_at is not None and final_at else None,
                "total_s": round(time.perf_counter() - start - (final_at or 0), 2),
                "prompt_tokens": timings.get("prompt_n"),
                "prompt_s": round(timings.get("prompt_ms", 0) / 1000, 2),
                "decoded_tokens": timings.get("predicted_n"),
                "decode_s": round(timings.get("predicted_ms", 0) / 1000, 2),
            }
        )
    firsts = [r["first_sentence_s"] for r in rows if r["first_sentence_s"] is not None]
    return {
        "turns": len(rows),
        "accepted": sum(r["source"] == "llm" for r in rows),
        "first_sentence_s_median": round(statistics.median(firsts), 2) if firsts else None,
        "total_s_median": round(statistics.median(r["total_s"] for r in rows), 2) if rows else None,
        "prompt_s_median": round(statistics.median(r["prompt_s"] for r in rows), 2) if rows else None,
        "rows": rows,
    }


def print_report(report: dict[str, Any]) -> None:
    print("lang  turns reasons unsupported  match  match*  distinct  off-list  questions")
    for lang, s in report["per_language"].items():
        print(
            f"{lang:<5}{s['turns']:>6}{s['reasons']:>8}{s['unsupported_claims']:>12}{s['naming_a_match']:>7.1%}"
            f"{s['naming_a_match_of_matching_items']:>8.1%}{s['distinct_per_answer']:>10}"
            f"{s['replies_naming_off_list_titles']:>10}{s['questions']:>11}"
        )
    print("match: reasons naming a matched attribute, topic or liked title; match*: of the items that match")
    print("something the request asked for; distinct: fewest distinct reasons in one answer / its items")
    for e in report["examples"]:
        print(f"\n> {e['text']}\n  {e['reply']}\n  ? {e['question']}\n  {' · '.join(e['items'])}")
    bench = report.get("model_reply")
    if bench:
        print(
            f"\nmodel reply, {bench['turns']} turns: {bench['accepted']} accepted; after the template answer, "
            f"first sentence {bench['first_sentence_s_median']} s, all {bench['total_s_median']} s "
            f"(median; prompt {bench['prompt_s_median']} s)"
        )


def cmd_eval_explanations(args: Any) -> int:
    from convrec.chat.load import load_recommender
    from convrec.core.config import settings_from_args

    if args.llm is None:
        args.llm = "none"  # the rules, unless a model is named
    rec = load_recommender(settings_from_args(args))
    named = {i: it.title for i, it in rec.catalog.items.items()}
    report = run(rec.recommend, conversations(args.suite, args.content), rec.write.spotter, rec.genres, named)
    report.update(
        examples=examples(rec.recommend),
        llm=rec.llm.name if rec.llm else "none",
        suites=[str(args.suite), str(args.content)],
    )
    if args.model_reply:
        args.llm = "embedded"
        settings = settings_from_args(args).model_copy(update={"llm_reply": True, "parse_with_llm": False})
        texts = [*EXAMPLES, *(chat[0] for chat in conversations(args.suite, args.content))]
        report["model_reply"] = bench_reply(load_recommender(settings), texts[: args.model_reply])
    write_json(args.out, report)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2, ensure_ascii=False))
    else:
        print_report(report)
        print(f"wrote {args.out}")
    return 0


def add_eval_cli(eval_subparsers: Any) -> None:
    """`convrec eval explanations` (wired in by cli.py)."""
    p = eval_subparsers.add_parser("explanations", help="are reasons and replies grounded, specific and distinct?")
    p.add_argument("--suite", type=Path, default=Path("bench/constraints.jsonl"))
    p.add_argument("--content", type=Path, default=Path("bench/content.jsonl"))
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--out", type=Path, default=Path("reports/explanations.json"))
    p.add_argument(
        "--model-reply", type=int, default=0, metavar="N", help="also time the embedded model's reply on N requests"
    )
    p.set_defaults(func=cmd_eval_explanations)
