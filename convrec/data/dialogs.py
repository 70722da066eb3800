"""Dialogues to grade a recommender on: ReDial conversations or any "context -> target" table.

One `Example` is one recommender turn to grade. Following He et al. (CIKM 2023, "Large Language
Models as Zero-Shot Conversational Recommenders"), whose scripts start from CRSLab's ReDial:

- consecutive messages of one sender are one utterance (as CRSLab merges them);
- every recommender utterance that mentions a movie is a turn to grade; its context is the
  dialogue before it, with ReDial's `@123` mentions rendered as the movie's name;
- its targets are the movies it mentions, minus those the context already mentioned (He et al.'s
  "recommendation" condition: a repeated movie is a shortcut, not a recommendation);
- targets are mapped to the catalogue by title and year (fuzzy, `TitleMatcher`); a target not in
  the catalogue counts against `coverage` and is left out of recall;
- Recall@K is averaged over (turn, target) pairs, each pair a hit when the target is in the top K
  of a list from which the items mentioned in the context were removed; the 95 % interval is
  1.96 standard errors over pairs, as in He et al.'s `evaluate.py`. Pairs of one conversation
  are not independent, so `cluster_bootstrap_ci` gives a wider, more honest interval too.

A generic table (`read_table`) has one row per turn: a context column and a target column (one
title, a list of titles in JSONL, or titles joined by `target_sep`). Context lines that start
with "User:"/"System:" (or Seeker/Recommender) become utterances of those roles; titles in the
context are found by `TitleMatcher.find_in_text` (after a cue or in quotes) and by exact
title occurrence for targets.

Left out on purpose: ReDial's post-dialogue questionnaires (`initiatorQuestions` say which
movies the seeker liked; using them would grade with answers the recommender never had).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.errors import ConvrecError
from convrec.data.titles import TitleMatcher, split_year, title_occurs

SEEKER, RECOMMENDER = "seeker", "recommender"
KS = (1, 5, 10, 20, 50)
_MENTION = re.compile(r"@(\d+)")
_ROLE_PREFIX = re.compile(r"^\s*(user|seeker|system|recommender|assistant)\s*:\s*", re.IGNORECASE)


class DataError(ConvrecError):
    """A dialogue file that cannot be read, with the line and what to fix."""


@dataclass(frozen=True)
class Utterance:
    """One speaker's turn: rendered text and the catalogue items it mentions (resolved ones only).

    `bare` is the text with mentions rendered without their year: "I loved Heat (1995)" must not
    read as a wish for films from 1995 when the rules parse it.
    """

    role: str
    text: str
    items: tuple[int, ...] = ()
    bare: str = ""

    @property
    def parse_text(self) -> str:
        return self.bare or self.text


@dataclass(frozen=True)
class Example:
    """One recommender turn to grade.

    `targets` are the target titles as the data names them and `target_ids` their catalogue ids
    (None: not in the catalogue), both without the targets the context already mentioned, which
    `repeated` counts. `seen` holds every catalogue item the context mentions: a ranking must not
    contain them.
    """

    key: dict[str, Any]
    context: tuple[Utterance, ...]
    targets: tuple[str, ...]
    target_ids: tuple[int | None, ...]
    seen: frozenset[int] = frozenset()
    repeated: int = 0
    group: str = ""  # what pairs are clustered by in the bootstrap: the conversation

    @property
    def gradable(self) -> tuple[int, ...]:
        """Catalogue ids of the targets recall is computed over (in catalogue, not seen)."""
        return tuple(dict.fromkeys(i for i in self.target_ids if i is not None and i not in self.seen))

    def text(self, roles: tuple[str, str] = ("User", "System")) -> str:
        """The context as He et al. render it: one "User: ..." / "System: ..." line per utterance.

        >>> Example({}, (Utterance(SEEKER, "hi"), Utterance(RECOMMENDER, "Try Heat (1995)")), (), ()).text()
        'User: hi\\nSystem: Try Heat (1995)'
        """
        names = {SEEKER: roles[0], RECOMMENDER: roles[1]}
        return "\n".join(f"{names[u.role]}: {u.text}" for u in self.context)

    def seeker_text(self, last: int | None = None) -> str:
        """What the seeker said, oldest first (only the `last` utterances when given)."""
        said = [u.text for u in self.context if u.role == SEEKER]
        return "\n".join(said[-last:] if last else said)

    def mentioned(self, role: str | None = None) -> list[int]:
        """Catalogue items the context mentions (by `role` only when given), oldest first, once each."""
        return list(dict.fromkeys(i for u in self.context if role in (None, u.role) for i in u.items))


@dataclass(frozen=True)
class Dialogue:
    """One conversation as what was brought up: (role, catalogue items mentioned) per utterance,
    oldest first; what the conversation model learns from (`convrec.retrieve.conv`)."""

    id: str
    turns: tuple[tuple[str, tuple[int, ...]], ...]
    texts: tuple[str, ...] = ()  # per turn, what was said ("" or missing: not known)

    def text(self, turn: int) -> str:
        return self.texts[turn] if turn < len(self.texts) else ""


def dialogues_of(examples: Iterable[Example]) -> list[Dialogue]:
    """The dialogues behind graded turns, one per conversation (`Example.group`): the context of
    its last graded turn and that turn's targets as the recommender's answer.

    >>> a = Example({}, (Utterance(SEEKER, "x", (1,)),), ("B",), (2,), group="c")
    >>> b = Example({}, (*a.context, Utterance(RECOMMENDER, "y", (2,))), ("C", "?"), (3, None), group="c")
    >>> dialogues_of([a, b])[0].turns
    (('seeker', (1,)), ('recommender', (2,)), ('recommender', (3,)))
    """
    last: dict[str, Example] = {}
    for e in examples:
        last[e.group] = e
    return [
        Dialogue(
            group,
            (
                *((u.role, u.items) for u in e.context),
                (RECOMMENDER, tuple(i for i in e.target_ids if i is not None)),
            ),
            tuple(u.parse_text for u in e.context),
        )
        for group, e in last.items()
    ]


class Resolver:
    """Catalogue id of a title such as "Police Academy  (1984)", cached (ReDial repeats names).

    >>> from convrec.core.types import Item
    >>> r = Resolver(TitleMatcher([Item(1, "Heat", 1995), Item(2, "Heat", 1986)]))
    >>> r("Heat  (1986)"), r("Heat (1995)"), r("Heat (2010)"), r("Heat")
    (2, 1, None, 1)
    """

    def __init__(self, matcher: TitleMatcher) -> None:
        self.matcher = matcher
        self._cache: dict[str, int | None] = {}

    def __call__(self, name: str | None) -> int | None:
        if not name or not name.strip():
            return None
        name = " ".join(name.split())
        if name not in self._cache:
            title, year = split_year(name)
            self._cache[name] = self.matcher.match(title, year)
        return self._cache[name]


# --------------------------------------------------------------------------------------------
# ReDial


def read_redial(path: Path, resolve: Callable[[str | None], int | None]) -> Iterator[Example]:
    """The turns to grade in a ReDial JSONL file (one conversation per line), in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass a ReDial .jsonl file (e.g. ../shared/data/redial/test_dev.jsonl)")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                conv = json.loads(line)
                messages, names = conv["messages"], conv.get("movieMentions") or {}
                seeker = conv["initiatorWorkerId"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataError(
                    f"{path.name} line {n}: not a ReDial conversation ({e}); expected the keys "
                    "messages, movieMentions, initiatorWorkerId"
                ) from None
            yield from redial_examples(conv, messages, names, seeker, resolve, str(conv.get("conversationId", n)))


def redial_examples(
    conv: dict[str, Any],
    messages: list[dict[str, Any]],
    names: dict[str, str | None],
    seeker: Any,
    resolve: Callable[[str | None], int | None],
    conversation_id: str,
) -> Iterator[Example]:
    """The graded turns of one conversation (see the module docstring for the rules)."""
    names = {str(k): (" ".join(v.split()) if isinstance(v, str) else None) for k, v in names.items()}
    # merge consecutive messages of one sender: (role, first message id, texts)
    merged: list[tuple[str, Any, list[str]]] = []
    for m in messages:
        role = SEEKER if m.get("senderWorkerId") == seeker else RECOMMENDER
        if merged and merged[-1][0] == role:
            merged[-1][2].append(m.get("text", ""))
        else:
            merged.append((role, m.get("messageId"), [m.get("text", "")]))
    context: list[Utterance] = []
    seen_redial: set[str] = set()
    seen: set[int] = set()
    for role, message_id, texts in merged:
        raw = " ".join(t.strip() for t in texts if t and t.strip())
        mentions = list(dict.fromkeys(_MENTION.findall(raw)))
        text = _MENTION.sub(lambda m: names.get(m.group(1)) or "a movie", raw)
        bare = _MENTION.sub(lambda m: split_year(names.get(m.group(1)) or "a movie")[0], raw)
        ids = tuple(dict.fromkeys(i for i in (resolve(names.get(r)) for r in mentions) if i is not None))
        if role == RECOMMENDER and mentions:
            new = [
                r
                for r in mentions
                if r not in seen_redial and (resolve(names.get(r)) not in seen or resolve(names.get(r)) is None)
            ]
            repeated = len(mentions) - len(new)
            if new or repeated:
                yield Example(
                    key={"conversation_id": conversation_id, "message_id": message_id},
                    context=tuple(context),
                    targets=tuple(names.get(r) or f"@{r}" for r in new),
                    target_ids=tuple(resolve(names.get(r)) for r in new),
                    seen=frozenset(seen),
                    repeated=repeated,
                    group=conversation_id,
                )
        context.append(Utterance(role, text, ids, bare))
        seen_redial.update(mentions)
        seen.update(ids)


def read_dialogues(path: Path, matcher: TitleMatcher) -> list[Dialogue]:
    """The dialogues of a ReDial .jsonl file, or of a "context -> target" .csv/.tsv table as
    `eval redial --export-table` writes it (columns id, context, target; targets joined by "|";
    each row one dialogue), with their items resolved in the catalogue `matcher` holds."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        return dialogues_of(read_redial(path, Resolver(matcher)))
    if path.suffix.lower() in (".csv", ".tsv"):
        return dialogues_of(read_table(path, "context", "target", matcher, id_col="id", target_sep="|"))
    raise DataError(f"{path.name}: unknown dialogue format; use ReDial .jsonl or a .csv with id, context, target")


# --------------------------------------------------------------------------------------------
# Any "context -> target" table


def read_table(
    path: Path,
    context_col: str,
    target_col: str,
    matcher: TitleMatcher,
    *,
    id_col: str | None = None,
    target_sep: str | None = None,
) -> Iterator[Example]:
    """The rows of a .csv or .jsonl file as examples keyed by row number (or `id_col`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass a .csv or .jsonl file")
    resolve = Resolver(matcher)
    for row_number, row in _rows(path):
        for col in (context_col, target_col, *([id_col] if id_col else [])):
            if col not in row:
                found = ", ".join(map(str, row)) or "none"
                raise DataError(
                    f"{path.name} row {row_number}: no column {col!r} (found: {found}); set --context-col/--target-col"
                )
        context = _utterances(row[context_col], matcher)
        raw_targets = row[target_col]
        if isinstance(raw_targets, str):
            raw_targets = raw_targets.split(target_sep) if target_sep else [raw_targets]
        targets = [" ".join(str(t).split()) for t in (raw_targets or []) if str(t).strip()]
        seen = {i for u in context for i in u.items}
        full = "\n".join(u.text for u in context)
        new, ids, repeated = [], [], 0
        for title in dict.fromkeys(targets):
            item_id = resolve(title)
            if (item_id is not None and item_id in seen) or title_occurs(split_year(title)[0], full):
                repeated += 1
                continue
            new.append(title)
            ids.append(item_id)
        key = {"row": row_number} if id_col is None else {"row": row_number, "id": row[id_col]}
        if new or repeated:
            yield Example(
                key, tuple(context), tuple(new), tuple(ids), frozenset(seen), repeated, str(key.get("id", row_number))
            )


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as e:
                        raise DataError(f"{path.name} line {n}: not JSON ({e.msg})") from None
    elif path.suffix.lower() in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            for n, row in enumerate(
                csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), start=2
            ):
                yield n, row
    else:
        raise DataError(f"{path.name}: unknown format; use .csv, .tsv or .jsonl")


def _utterances(context: Any, matcher: TitleMatcher) -> list[Utterance]:
    """Context text (or a list of lines) -> utterances; a "System:" line is the recommender's.

    >>> [(u.role, u.text) for u in _utterances("User: hi\\nSystem: hello\\nmore", TitleMatcher([]))]
    [('seeker', 'hi'), ('recommender', 'hello more')]
    """
    lines = context if isinstance(context, list) else str(context or "").splitlines()
    out: list[tuple[str, list[str]]] = []
    for line in map(str, lines):
        if not line.strip():
            continue
        m = _ROLE_PREFIX.match(line)
        role = (RECOMMENDER if m.group(1).lower() in ("system", "recommender", "assistant") else SEEKER) if m else None
        text = line[m.end() :] if m else line
        if role is None and out:
            out[-1][1].append(text.strip())
        else:
            out.append((role or SEEKER, [text.strip()]))
    return [_utterance(role, " ".join(parts), matcher) for role, parts in out]


def _utterance(role: str, text: str, matcher: TitleMatcher) -> Utterance:
    """An utterance whose mentions are found in its text; `bare` drops the "(1995)" after each.

    >>> from convrec.core.types import Item
    >>> u = _utterance(SEEKER, "I loved Heat (1995) a lot", TitleMatcher([Item(7, "Heat", 1995)]))
    >>> u.items, u.bare
    ((7,), 'I loved Heat a lot')
    """
    mentions = matcher.find_mentions(text)
    bare, pos = [], 0
    for m in mentions:
        after = re.match(r"\s*[(\[]\s*\d{4}\s*[)\]]", text[m.end :])
        end = m.end + (after.end() if after else 0)
        bare += [text[pos : m.start], split_year(text[m.start : end])[0]]
        pos = end
    bare.append(text[pos:])
    return Utterance(role, text, tuple(dict.fromkeys(m.item_id for m in mentions)), "".join(bare))


# --------------------------------------------------------------------------------------------
# Metrics


def hits(ranked: Sequence[int], target: int, ks: Iterable[int] = KS) -> dict[int, int]:
    """For each K, 1 when `target` is in the first K of `ranked`.

    >>> hits([5, 3, 9], 3, (1, 2, 10))
    {1: 0, 2: 1, 10: 1}
    """
    rank: float
    try:
        rank = list(ranked).index(target)
    except ValueError:
        rank = math.inf
    return {k: int(rank < k) for k in ks}


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its normal 95 % interval (1.96 standard errors, ddof=1).

    >>> m, h = mean_ci([1, 0, 1, 0]); (m, round(h, 3))
    (0.5, 0.566)
    """
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), float("nan")
    return float(x.mean()), float(1.96 * x.std(ddof=1) / math.sqrt(len(x)))


def cluster_bootstrap_ci(
    values: Sequence[float], clusters: Sequence[str], *, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """A 95 % percentile interval for the mean, resampling whole clusters (conversations).

    >>> lo, hi = cluster_bootstrap_ci([1, 1, 0, 0], ["a", "a", "b", "b"], n_boot=200); lo <= 0.5 <= hi
    True
    """
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    _, codes = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    sums = np.bincount(codes, weights=x)
    counts = np.bincount(codes).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass
class Tally:
    """Hits per (turn, target) pair for one system, and what it needs to summarise them."""

    ks: tuple[int, ...] = KS
    rows: list[dict[int, int]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)  # the example index of each row

    def add(self, ranked: Sequence[int], example: Example, index: int = -1) -> list[dict[int, int]]:
        out = [hits(ranked, t, self.ks) for t in example.gradable]
        self.rows += out
        self.groups += [example.group] * len(out)
        self.turns += [index] * len(out)
        return out

    def summary(self, *, only: set[int] | None = None, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
        """{"recall@K": mean, "ci95": {"recall@K": [lo, hi]}, "ci95_conversations": {...}, "pairs": n},
        over the rows of the examples in `only` when given.

        >>> t = Tally((1, 2)); _ = t.add([7, 8], Example({}, (), ("A", "B"), (8, 9)), 0)
        >>> s = t.summary(bootstrap=0); s["recall@1"], s["recall@2"], s["pairs"]
        (0.0, 0.5, 2)
        """
        keep = [n for n, turn in enumerate(self.turns) if only is None or turn in only]
        rows, groups = [self.rows[n] for n in keep], [self.groups[n] for n in keep]
        out: dict[str, Any] = {}
        ci: dict[str, list[float | None]] = {}
        boot: dict[str, list[float | None]] = {}
        for k in self.ks:
            values = [r[k] for r in rows]
            mean, half = mean_ci(values)
            out[f"recall@{k}"] = _num(mean)
            ci[f"recall@{k}"] = [_num(max(mean - half, 0.0)), _num(min(mean + half, 1.0))]  # clipped to [0, 1]
            if bootstrap:
                lo, hi = cluster_bootstrap_ci(values, groups, n_boot=bootstrap, seed=seed)
                boot[f"recall@{k}"] = [_num(lo), _num(hi)]
        out["ci95"] = ci
        if bootstrap:
            out["ci95_conversations"] = boot
        out["pairs"] = len(rows)
        out["n"] = len({self.turns[n] for n in keep})
        return out


def _num(x: float) -> float | None:
    """Rounded for JSON; None where undefined (JSON has no NaN).

    >>> _num(0.123456), _num(float("nan"))
    (0.1235, None)
    """
    return None if math.isnan(x) else round(x, 4)


def coverage(examples: Sequence[Example]) -> dict[str, Any]:
    """How many targets the catalogue holds, over the non-repeated targets of all examples."""
    targets = sum(len(e.target_ids) for e in examples)
    found = sum(1 for e in examples for i in e.target_ids if i is not None)
    return {
        "coverage": round(found / targets, 4) if targets else float("nan"),
        "targets": targets,
        "targets_in_catalogue": found,
        "repeated_targets_dropped": sum(e.repeated for e in examples),
        "turns_with_mentions": len(examples),
        "n": sum(1 for e in examples if e.gradable),
    }
