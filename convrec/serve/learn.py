"""`convrec learn`: rebuild the conversation model in index/ (`convrec.retrieve.conv`) from
dialogue files and from convrec's own conversations.

A dialogue file is ReDial .jsonl or a "context -> target" .csv (`convrec.data.dialogs.read_dialogues`).
A stored conversation (`--feedback`: the store `convrec serve` keeps, SQLite or PostgreSQL)
becomes one dialogue: the items the person named as liked in their messages ("like Heat"), as
the seeker's; then each item they gave 👍 or "more like this", in the order given, as an answer
of the recommender that was taken up (the latest rating of an item wins, so a 👍 later taken
back counts for nothing). At most `feedback_export_per_session` items of one conversation count
(its latest), as in `export-feedback`: a script clicking through the catalogue cannot outweigh
real people. A forgotten conversation (DELETE /v1/sessions/{id}) is gone from the store and so
from the next model.

Left out on purpose: the order of the named items among the ratings (a session keeps which
items were named, not when), and learning online: the model changes when this command runs.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.config import Settings, settings_from_args
from convrec.core.errors import InputError
from convrec.data.catalog import Catalog
from convrec.data.dialogs import RECOMMENDER, SEEKER, Dialogue, read_dialogues
from convrec.data.titles import TitleMatcher, normalize_title
from convrec.parse.rules import parse_rules
from convrec.retrieve.conv import CONV_FILE, ConvModel, WordReader, needs_words
from convrec.serve.db import DEFAULT_DB, db_target, open_store
from convrec.serve.store import POSITIVE, Event, Store


def session_dialogue(sid: str, data: dict[str, Any], events: Sequence[Event], cap: int | None) -> Dialogue:
    """One stored conversation as a dialogue (see the module docstring).

    >>> ev = [Event(1, "s", 5, "like", 1, 0.0), Event(2, "s", 6, "more_like", 2, 1.0), Event(3, "s", 7, "like", 3, 2.0),
    ...       Event(4, "s", 7, "dislike", 3, 3.0)]
    >>> session_dialogue("s", {"needs": {"liked": [9, 5, 6]}}, ev, None).turns
    (('seeker', (9,)), ('recommender', (5,)), ('recommender', (6,)))
    """
    latest: dict[int, Event] = {}
    for e in sorted(events, key=lambda e: e.id):
        latest.pop(e.item_id, None)
        latest[e.item_id] = e  # re-inserted: ordered by the latest event
    rated = [e.item_id for e in latest.values() if e.action in POSITIVE]
    named = [int(i) for i in (data.get("needs") or {}).get("liked", []) if int(i) not in latest]
    items = [*((SEEKER, i) for i in named), *((RECOMMENDER, i) for i in rated)]
    if cap:
        items = items[-cap:]
    return Dialogue(sid, tuple((role, (i,)) for role, i in items))


def store_dialogues(store: Store, cap: int | None) -> list[Dialogue]:
    """Every conversation of the store with a liked item, as a dialogue."""
    events: dict[str, list[Event]] = {}
    for e in store.events():
        events.setdefault(e.session_id, []).append(e)
    data = dict(store.conversations())
    out = [
        session_dialogue(sid, data.get(sid, {}), events.get(sid, []), cap) for sid in dict.fromkeys([*data, *events])
    ]
    return [d for d in out if d.turns]


def fit_dialogues(dialogues: Sequence[Dialogue], catalog: Catalog, item_ids: np.ndarray, **params: float) -> ConvModel:
    """The conversation model of `dialogues` over the rows `item_ids`, the seeker's words read by
    the rules (`words_reader`): what `convrec learn` writes, and what an evaluation learns per fold."""
    return ConvModel.fit(dialogues, item_ids, words_reader(catalog), **params)


def conv_params(settings: Settings, **given: float | None) -> dict[str, float]:
    """The conversation model's weights: those `given`, else the settings' (`conv_*`).

    >>> conv_params(Settings(llm="none"), word_weight=0.0)
    {'together_weight': 2.0, 'word_weight': 0.0}
    """
    chosen = {"together_weight": settings.conv_together_weight, "word_weight": settings.conv_word_weight}
    return {**chosen, **{k: v for k, v in given.items() if v is not None}}


def words_reader(catalog: Catalog) -> WordReader:
    """What the conversation model hears in a seeker's message: the words of the needs the rules
    read (`needs_words`), less the words of the titles it names; memoised, as a cross-fitted
    evaluation reads each message once per fold."""
    genres = catalog.genres()

    @functools.cache
    def words(text: str, items: tuple[int, ...]) -> tuple[str, ...]:
        named = {w for i in items if i in catalog for w in normalize_title(catalog.get(i).title).split()}
        return tuple(w for w in needs_words(parse_rules(text, genres)) if w not in named)

    return lambda text, items: words(text, tuple(items))


def learn(
    index_dir: Path,
    dialogs: Sequence[Path] = (),
    store: Store | None = None,
    *,
    cap: int | None = None,
    **params: float,
) -> dict[str, Any]:
    """Learn the conversation model of the catalogue in `index_dir` from the dialogue files and
    the store's conversations, and write it there; returns its manifest."""
    if not dialogs and store is None:
        raise InputError("nothing to learn from: name dialogue files (--dialogs) and/or --feedback")
    catalog = Catalog.load(Path(index_dir) / "catalog")
    matcher = TitleMatcher(catalog.items.values())
    learned: list[Dialogue] = []
    sources: dict[str, Any] = {}
    for path in dialogs:
        found = read_dialogues(Path(path), matcher)
        sources[Path(path).name] = len(found)
        learned += found
    if store is not None:
        found = store_dialogues(store, cap)
        sources["feedback"] = {"store": store.where, "conversations": len(found)}
        learned += found
    return fit_dialogues(learned, catalog, catalog.ids(), **params).save(index_dir, sources)


def cmd_learn(args: argparse.Namespace) -> int:
    settings: Settings = settings_from_args(args)
    store = open_store(args.db or db_target(settings)) if args.feedback else None
    try:
        manifest = learn(
            settings.index_dir,
            args.dialogs or (),
            store,
            cap=settings.feedback_export_per_session or None,
            shrinkage=args.shrinkage,
            **conv_params(settings, together_weight=args.together_weight, word_weight=args.word_weight),
        )
    finally:
        if store is not None:
            store.close()
    sources = ", ".join(
        f"{k}: {v['conversations'] if isinstance(v, dict) else v}" for k, v in manifest["sources"].items()
    )
    print(
        f"learnt the conversation model from {manifest['dialogues']:,} dialogues ({sources}): "
        f"{manifest['items_mentioned']:,} items mentioned, {manifest['answer_pairs']:,} answer pairs; "
        f"wrote {Path(settings.index_dir) / CONV_FILE}"
    )
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "learn", help="rebuild the conversation model in index/ from dialogues and convrec's own conversations"
    )
    p.add_argument("--dialogs", type=Path, nargs="+", help="ReDial .jsonl or id,context,target .csv files of dialogues")
    p.add_argument("--feedback", action="store_true", help="also learn from the conversations and feedback stored")
    p.add_argument(
        "--db",
        help=f"the store with --feedback: a SQLite file or a postgresql:// URL (default: $CONVREC_DB_URL, "
        f"else $CONVREC_FEEDBACK_DB, else {DEFAULT_DB})",
    )
    p.add_argument("--shrinkage", type=float, default=10.0, help="dialogues of evidence that outweigh the prior")
    p.add_argument(
        "--together-weight", type=float, help="weight of items brought up together (default: conv_together_weight)"
    )
    p.add_argument("--word-weight", type=float, help="weight of the words the seeker said (default: conv_word_weight)")
    p.set_defaults(func=cmd_learn)
