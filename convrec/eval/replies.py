"""`convrec eval replies`: the template words of fixed conversations, as text, to compare across a change.

Runs 37 scripted conversations (English and Chinese: plain, vague, relaxed, impossible and
unmatched requests, liked titles, "older" and "less like #2" follow-ups, positions no list holds,
one and two picks) with the template reply and reasons (`--llm none`), once per item noun asked
for, and writes every preview and final turn's reply, question and reasons as text
(reports/replies.txt) with its SHA-256. A change that must not alter what the assistant says
(a refactor of the renderers or the languages) leaves the digest as it was on the same index.

    convrec --llm none eval replies --nouns movie,course   # prints the digest, writes the text
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convrec.chat.session import Session
from convrec.core.files import write_json

# (k, the messages of one conversation)
CONVERSATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (5, ("a funny 90s movie, nothing scary", "older", "less like #2", "more like #1")),
    (5, ("like Toy Story but darker",)),
    (5, ("推荐一部90年代的喜剧", "更老一点的", "不要像第2个的")),
    (5, ("更老一点的",)),
    (5, ("something",)),
    (5, ("随便",)),
    (5, ("a horror musical from the 1950s",)),
    (5, ("1950年代的恐怖歌舞片",)),
    (5, ("movies about time travel",)),
    (5, ("关于时间旅行的电影",)),
    (5, ("a western documentary from 2015, no drama",)),
    (5, ("more like #7",)),
    (5, ("更像第3个的",)),
    (5, ("I liked Heat and Ronin, something similar",)),
    (5, ("I loved Toy Story, Aladdin, The Lion King and Mulan",)),
    (5, ("我喜欢《玩具总动员》，推荐类似的",)),
    (5, ("a romantic comedy from 1995, not too much drama",)),
    (5, ("not horror or thriller, something from the 80s",)),
    (5, ("sci-fi movies about robots",)),
    (5, ("喜剧片，不要恐怖片，2000年以后的",)),
    (5, ("qwxyzzy flurble",)),
    (5, ("a crime film from 1994",)),
    (5, ("movies from 1980 to 1985", "uplifting please")),
    (5, ("1980到1985年的电影，别太暗",)),
    (1, ("a funny 90s movie",)),
    (2, ("a funny 90s movie",)),
    (1, ("九十年代的喜剧",)),
    (2, ("九十年代的喜剧",)),
    (5, ("a documentary musical war western from 1931", "更新一点的")),
    (5, ("动画片，不要像《玩具总动员》的",)),
    (5, ("horror comedies from 1960",)),
    (5, ("a scary western from the 1990s",)),
    (5, ("1960年代的恐怖喜剧",)),
    (5, ("没有剧情的动画战争片，七十年代",)),
    (5, ("a noir from 1962",)),
    (5, ("a drama from 1921, no romance, no comedy, no war, no crime, no thriller, no adventure",)),
    (5, ("1921年的剧情片，不要爱情，不要喜剧，不要战争，不要犯罪",)),
)


def replies(recommender: Any) -> Iterator[str]:
    """The lines of every turn of `CONVERSATIONS`: its reply, its question and each pick's reason."""
    for k, texts in CONVERSATIONS:
        session = Session()
        for text in texts:
            yield f"## k={k} {text}"
            for turn in recommender.stream(session, text, k=k):
                tag = "final" if turn.info.get("final") else "preview"
                yield f"[{tag}] reply: {turn.reply}"
                yield f"[{tag}] question: {turn.question}"
                yield from (f"[{tag}]   {r.item.title} ({r.item.year}): {r.why}" for r in turn.recs)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- the command line (`convrec eval replies`, wired in by cli.py) -----------------------------


def add_eval_cli(eval_subparsers: Any) -> None:
    """`convrec eval replies`."""
    p = eval_subparsers.add_parser("replies", help="the template replies and reasons of fixed conversations, as text")
    p.add_argument("--nouns", help="comma-separated item nouns to run the conversations with (default: the index's)")
    p.add_argument("--out", type=Path, default=Path("reports/replies.txt"), help="the text (a .json beside it)")
    p.set_defaults(func=cmd_eval_replies)


def cmd_eval_replies(args: Any) -> int:
    from convrec.chat.load import load_recommender
    from convrec.core.config import settings_from_args

    settings = settings_from_args(args)
    nouns = [n.strip() for n in args.nouns.split(",")] if args.nouns else [None]
    parts = []
    for n, noun in enumerate(nouns):
        chosen = settings.model_copy(update={"domain_noun": noun}) if noun else settings
        rec = load_recommender(chosen)
        parts.append(("" if n == 0 else f"\n# noun={rec.settings.domain_noun}\n") + "\n".join(replies(rec)) + "\n")
    text = "".join(parts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    said = [n or settings.domain_noun for n in nouns]
    summary = {"sha256": digest(text), "conversations": len(CONVERSATIONS), "nouns": said, "lines": text.count("\n")}
    write_json(args.out.with_suffix(".json"), {**summary, "llm": settings.llm})
    for key, value in summary.items():
        print(f"{key:<14} {', '.join(value) if isinstance(value, list) else value}")
    print(f"wrote {args.out}")
    return 0
