"""`convrec learn`: rebuild the conversation model in index/ (`convrec.retrieve.conv`) from
dialogue files and from convrec's own conversations.

A dialogue file is ReDial .jsonl or a "context -> target" .csv (`convrec.data.dialogs.read_dialogues`).
A stored conversation (`--feedback`: the store `convrec serve` keeps, SQLite or PostgreSQL)
becomes one dialogue: the items the person named as liked in their messages ("like Heat"), as
the seeker's; then each item they gave 👍 or "more like this", in the order given, as an answer
of the recommender that was taken up (the latest rating of an item wins, so a 👍 later taken
back counts for nothing). At most `feedback_export_per_session` items of one conversation count
(its latest), as in `export-feedback`. A forgotten conversation (DELETE /v1/sessions/{id}) is
gone from the store and so from the next model.

What people do here is a vote, and one client must not outvote everyone (`Votes`):
- a client (`sessions.client_key`) votes once for each item pair and each item in each window
  (`feedback_vote_window_s`), however many conversations it holds: twenty conversations liking
  one film are one vote;
- a pair, or an item's share of answers (the prior every new conversation starts from), counts
  only once `feedback_min_clients` distinct clients voted for it;
- with dialogue files, the feedback makes at most `feedback_conv_share` of the model's dialogues
  (its counts are weighted down to that; alone, it is the whole model), and at most that share of
  what the model knows of any one item: its mentions (with the pairs they start) and its proposals,
  against the files' counts of it plus the `shrinkage` dialogues of the prior (`Counts.at_most`).
  Without it, every vote could go to one film and make it what every new conversation starts from.
Events stored before events named their client count as one client together. `convrec learn`
prints the items whose prior moved most, so that a jump is seen before it is served.

Left out on purpose: the order of the named items among the ratings (a session keeps which
items were named, not when), and learning online: the model changes when this command runs.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from convrec.core.config import Settings, settings_from_args
from convrec.core.errors import InputError
from convrec.data.catalog import Catalog
from convrec.data.dialogs import RECOMMENDER, SEEKER, Dialogue, read_dialogues
from convrec.data.titles import TitleMatcher, normalize_title
from convrec.parse.rules import parse_rules
from convrec.retrieve.conv import CONV_FILE, ConvModel, WordReader, load_conv, needs_words
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


LEGACY = "(stored before events named their client)"
Voter = tuple[str, int]  # (client key, window number)


@dataclass(frozen=True)
class Votes:
    """How the feedback counts (see the module docstring): `min_clients` distinct clients before a
    pair or a prior counts, one vote per client per `window_s`, at most `share` of the dialogues."""

    min_clients: int
    window_s: float
    share: float

    @classmethod
    def of(cls, settings: Settings) -> Votes:
        return cls(settings.feedback_min_clients, settings.feedback_vote_window_s, settings.feedback_conv_share)

    def weight(self, file_dialogues: int, voters: int) -> float:
        """What one vote weighs beside the dialogue files, so that the votes are at most `share`
        of all dialogues.

        >>> Votes(3, 86400.0, 0.2).weight(400, 500), Votes(3, 86400.0, 0.2).weight(400, 50), Votes(3, 1.0, 0.2).weight(0, 5)
        (0.2, 1.0, 1.0)
        """
        if not file_dialogues or not voters or self.share >= 1:
            return 1.0
        return min(1.0, self.share / (1 - self.share) * file_dialogues / voters)


class Counts(NamedTuple):
    """A conversation model's counts (`ConvModel`), as votes are added up."""

    answered: sp.csr_matrix
    together: sp.csr_matrix
    mentioned: np.ndarray
    proposed: np.ndarray

    @classmethod
    def ballot(cls, dialogues: Sequence[Dialogue], item_ids: np.ndarray) -> Counts:
        """One voter's dialogues, each pair and item counted once however often it came up."""
        m = ConvModel.fit(dialogues, item_ids)
        return cls(m.answered.sign(), m.together.sign(), np.sign(m.mentioned), np.sign(m.proposed))

    def plus(self, other: Counts, weight: float = 1.0) -> Counts:
        return Counts(*(a + weight * b for a, b in zip(self, other, strict=True)))

    def either(self, other: Counts) -> Counts:
        """Ballots of one client joined: 1 where either voted."""
        return Counts(
            self.answered.maximum(other.answered),
            self.together.maximum(other.together),
            np.maximum(self.mentioned, other.mentioned),
            np.maximum(self.proposed, other.proposed),
        )

    def at_most(self, share: float, files: Counts, base: float) -> Counts:
        """These counts with each item's scaled down to at most `share` of the item's total, where the
        rest is `files`' count of it plus `base`: an item's mentions with the pairs they start (its
        rows), and its proposals.

        >>> one = lambda m, p: Counts(sp.csr_matrix(np.eye(2, dtype=np.float32) * m), sp.csr_matrix((2, 2)), np.array(m), np.array(p))
        >>> c = one([40.0, 1.0], [40.0, 1.0]).at_most(0.2, one([0.0, 0.0], [90.0, 0.0]), 10.0)
        >>> c.mentioned.tolist(), c.proposed.tolist(), c.answered.toarray().diagonal().tolist()
        ([2.5, 1.0], [25.0, 1.0], [2.5, 1.0])
        """
        if share >= 1:
            return self
        limit = share / (1 - share)

        def factor(votes: np.ndarray, known: np.ndarray) -> np.ndarray:
            return np.minimum(1.0, limit * (known + base) / np.maximum(votes, 1e-9)).astype(np.float32)

        mentions = factor(self.mentioned, files.mentioned)
        rows = sp.diags(mentions)
        return Counts(
            (rows @ self.answered).tocsr(),
            (rows @ self.together).tocsr(),
            self.mentioned * mentions,
            self.proposed * factor(self.proposed, files.proposed),
        )

    def where(self, clients: Counts, n: int) -> Counts:
        """These counts where at least `n` clients voted."""
        return Counts(
            self.answered.multiply(clients.answered >= n).tocsr(),
            self.together.multiply(clients.together >= n).tocsr(),
            np.where(clients.mentioned >= n, self.mentioned, 0).astype(np.float32),
            np.where(clients.proposed >= n, self.proposed, 0).astype(np.float32),
        )


def store_dialogues(store: Store, cap: int | None, window_s: float) -> list[tuple[Dialogue, Voter]]:
    """Every conversation of the store with a liked item, as a dialogue, with who voted with it:
    the client of its latest event (else of the conversation) and the window of that event (else
    of the conversation's last use)."""
    events: dict[str, list[Event]] = {}
    for e in store.events():
        events.setdefault(e.session_id, []).append(e)
    sessions = {sid: (data, client, used) for sid, data, client, used in store.conversations()}
    out = []
    for sid in dict.fromkeys([*sessions, *events]):
        data, client, used = sessions.get(sid, ({}, None, 0.0))
        dialogue = session_dialogue(sid, data, events.get(sid, []), cap)
        if dialogue.turns:
            latest = max(events.get(sid, []), key=lambda e: e.id, default=None)
            if latest is not None:
                client, used = latest.client or client, latest.created_at
            out.append((dialogue, (client or LEGACY, int(used // window_s))))
    return out


def feedback_counts(
    voted: Sequence[tuple[Dialogue, Voter]], item_ids: np.ndarray, min_clients: int
) -> tuple[Counts, dict[str, int]]:
    """The votes of `voted` (one per voter and pair or item), kept where at least `min_clients`
    distinct clients voted; and how many voters, clients and held-back pairs and items there were."""
    by_voter: dict[Voter, list[Dialogue]] = {}
    for dialogue, voter in voted:
        by_voter.setdefault(voter, []).append(dialogue)
    empty = Counts.ballot([], item_ids)
    votes, clients = empty, empty
    n_clients = 0
    for _, group in groupby(sorted(by_voter), key=lambda v: v[0]):
        client = empty
        for voter in group:
            ballot = Counts.ballot(by_voter[voter], item_ids)
            votes, client = votes.plus(ballot), client.either(ballot)
        clients, n_clients = clients.plus(client), n_clients + 1
    kept = votes.where(clients, min_clients)
    stats = {
        "voters": len(by_voter),
        "clients": n_clients,
        "held_back_pairs": int(votes.answered.nnz - kept.answered.count_nonzero()),
        "held_back_items": int((votes.proposed > 0).sum() - (kept.proposed > 0).sum()),
    }
    return kept, stats


def movers(before: ConvModel | None, after: ConvModel, catalog: Catalog, n: int = 5) -> list[dict[str, Any]]:
    """The `n` items whose prior (the share of answers every new conversation starts from) moved
    most, up or down."""
    old = before.prior if before is not None else np.zeros(len(after.item_ids))
    change = after.prior - old
    rows = np.argsort(-np.abs(change), kind="stable")[:n]
    return [
        {
            "item_id": int(after.item_ids[r]),
            "title": catalog.items[int(after.item_ids[r])].title,
            "before": float(old[r]),
            "after": float(after.prior[r]),
        }
        for r in rows
        if change[r]
    ]


def fit_dialogues(dialogues: Sequence[Dialogue], catalog: Catalog, item_ids: np.ndarray, **params: float) -> ConvModel:
    """The conversation model of `dialogues` over the rows `item_ids`, the seeker's words read by
    the rules (`words_reader`): what `convrec learn` writes, and what an evaluation learns per fold."""
    return ConvModel.fit(dialogues, item_ids, words_reader(catalog), **params)


def conv_params(settings: Settings, **given: float | None) -> dict[str, float]:
    """The conversation model's weights: those `given`, else the settings' (`conv_*`).

    >>> conv_params(Settings(llm="none"), word_weight=0.0)
    {'together_weight': 2.0, 'word_weight': 0.0, 'half_life': 1500.0}
    """
    chosen = {
        "together_weight": settings.conv_together_weight,
        "word_weight": settings.conv_word_weight,
        "half_life": settings.conv_half_life,
    }
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
    votes: Votes | None = None,
    **params: float,
) -> dict[str, Any]:
    """Learn the conversation model of the catalogue in `index_dir` from the dialogue files and
    the votes of the store's conversations (`votes`: default, the settings'), and write it there;
    returns its manifest, with the items whose prior moved most ("movers")."""
    if not dialogs and store is None:
        raise InputError("nothing to learn from: name dialogue files (--dialogs) and/or --feedback")
    votes = votes or Votes.of(Settings())
    catalog = Catalog.load(Path(index_dir) / "catalog")
    ids = catalog.ids()
    before = load_conv(Path(index_dir), ids)
    matcher = TitleMatcher(catalog.items.values())
    learned: list[Dialogue] = []
    sources: dict[str, Any] = {}
    for path in dialogs:
        found = read_dialogues(Path(path), matcher)
        sources[Path(path).name] = len(found)
        learned += found
    model = fit_dialogues(learned, catalog, ids, **params)
    if store is not None:
        voted = store_dialogues(store, cap, votes.window_s)
        counts, stats = feedback_counts(voted, ids, votes.min_clients)
        weight = votes.weight(model.dialogues, stats["voters"])
        files = Counts(model.answered, model.together, model.mentioned, model.proposed)
        voted_in = Counts(*(weight * c for c in counts))
        if model.dialogues:  # beside dialogue files: at most `share` of what they know of any one item
            voted_in = voted_in.at_most(votes.share, files, model.shrinkage)
        total = files.plus(voted_in)
        n = model.dialogues + round(weight * stats["voters"])
        model = ConvModel(
            ids, total.answered, total.together, total.mentioned, total.proposed, n,
            words=model.words, said=model.said, heard=model.heard, **params,
        )  # fmt: skip
        sources["feedback"] = {"store": store.where, "conversations": len(voted), **stats, "weight": weight}
    manifest = model.save(index_dir, sources)
    return {**manifest, "movers": movers(before, model, catalog)}


def cmd_learn(args: argparse.Namespace) -> int:
    settings: Settings = settings_from_args(args)
    store = open_store(args.db or db_target(settings)) if args.feedback else None
    try:
        manifest = learn(
            settings.index_dir,
            args.dialogs or (),
            store,
            cap=settings.feedback_export_per_session or None,
            votes=Votes.of(settings),
            shrinkage=args.shrinkage,
            **conv_params(
                settings, together_weight=args.together_weight, word_weight=args.word_weight, half_life=args.half_life
            ),
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
    feedback = manifest["sources"].get("feedback")
    if feedback:
        days = settings.feedback_vote_window_s / 86400
        print(
            f"feedback: {feedback['voters']:,} votes (one per client and {days:g}-day window) "
            f"from {feedback['clients']:,} clients, each weighing {feedback['weight']:.3g}; held back (fewer than "
            f"{settings.feedback_min_clients} clients): {feedback['held_back_pairs']:,} answer pairs, "
            f"{feedback['held_back_items']:,} items"
        )
    if manifest["movers"]:
        print("biggest movers of the prior (the share of answers a new conversation starts from):")
        for m in manifest["movers"]:
            print(f"  {m['item_id']:>8}  {m['before']:8.2%} -> {m['after']:8.2%}  {m['title']}")
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
    p.add_argument(
        "--half-life",
        type=float,
        help="a dialogue weighs half as much this many dialogues back from the newest, the files read oldest "
        "first in the order given (default: conv_half_life; 0: all alike)",
    )
    p.set_defaults(func=cmd_learn)
