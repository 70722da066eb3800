"""The conversation model: which items people bring up together, and which ones a recommender
answers with, learned from dialogues and scored from the items of the current conversation.

A dialogue here is its utterances reduced to (role, items mentioned), oldest first
(`convrec.data.dialogs.Dialogue`): ReDial conversations, "context -> target" tables, and
convrec's own conversations (the items a person named, liked or asked "more like"). From them,
counted once per dialogue:

    answered[i, j]   j was proposed by the recommender after i had been mentioned (directed)
    together[i, j]   i and j were both mentioned (symmetric, i != j)
    mentioned[i]     dialogues that mention i
    proposed[j]      dialogues in which the recommender proposed j
    said[w, j]       j was proposed after the seeker had said the word w (`words_of` reads them:
                     the genres, moods and keywords of the message, `needs_words`)
    heard[w]         dialogues in which the seeker said w

A conversation whose items so far are S and whose words are W is scored, for every item j, as a
conditional rate smoothed toward the recommenders' prior:

    conv[j] = (sum_i∈S answered[i, j] + together_weight * together[i, j]
               + word_weight * sum_w∈W said[w, j] + shrinkage * prior[j])
              / (sum_i∈S mentioned[i] + word_weight * sum_w∈W heard[w] + shrinkage)
    prior[j] = proposed[j] / dialogues

Every count is weighted by how recent its dialogue is, with `half_life` (in dialogues, in the order
they are learned: oldest first; 0 weighs all alike; `convrec learn` takes `conv_half_life`): what
recommenders answer drifts with what has just come out, and the newest dialogues know it. The weights
average 1, so the counts keep the scale of dialogues.

With nothing known of the conversation (S empty, or no item of S ever mentioned), it is the
prior: what recommenders in the dialogues answered with most. With a lot of evidence it is how
often j answered S's items. `shrinkage` says how many dialogues of evidence it takes to move
away from the prior. The "conv" blend source (`convrec.retrieve.sources.conv`) reads it, with the
weight `CONVREC_W_CONV`; with no model in index/ nothing changes.

>>> from convrec.data.dialogs import SEEKER
>>> m = ConvModel.fit([Dialogue("a", ((SEEKER, (1,)), (RECOMMENDER, (2,)))),
...                    Dialogue("b", ((SEEKER, (3,)), (RECOMMENDER, (4,))))], np.array([1, 2, 3, 4]), shrinkage=1.0)
>>> m.score([1]).tolist()  # 2 answered 1 and came up with it: (1 + 2.0 * 1 + 1.0 * 0.5) / (1 + 1); 4 has the prior
[0.0, 1.75, 0.0, 0.25]

A word is a feature of the conversation as an item is: "something scary" reaches what recommenders
answered "scary" with, whether or not the catalogue says the film is scary.

Left out on purpose: order within a dialogue beyond "before" (which utterance, how far back), negative evidence
(a disliked item is simply not part of S), and anything learned per person.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.core.errors import IndexMissing
from convrec.core.files import write_atomic
from convrec.core.types import Needs, NeedsUpdate
from convrec.data.dialogs import RECOMMENDER, Dialogue

__all__ = ["CONV_FILE", "CONV_MANIFEST", "ConvModel", "load_conv", "needs_words"]

CONV_FILE = "conv_model.npz"  # the counts, under index/
CONV_MANIFEST = "conv_model.json"  # what they were learned from, and the parameters
MIN_HEARD = 2  # a word said in one dialogue only is not learned


WordReader = Callable[[str, Sequence[int]], Sequence[str]]  # (what was said, items it names) -> words


@dataclass
class ConvModel:
    """Counts learned from dialogues over the catalogue rows `item_ids` (see the module docstring)."""

    item_ids: np.ndarray
    answered: sp.csr_matrix
    together: sp.csr_matrix
    mentioned: np.ndarray
    proposed: np.ndarray
    dialogues: int
    shrinkage: float = 10.0
    together_weight: float = 2.0
    words: tuple[str, ...] = ()  # the rows of `said` and `heard`
    said: sp.csr_matrix | None = None
    heard: np.ndarray | None = None
    word_weight: float = 0.1
    half_life: float = 0.0  # what the counts were weighted with (see `recency`)

    @classmethod
    def fit(
        cls,
        dialogues: Iterable[Dialogue],
        item_ids: np.ndarray,
        words_of: WordReader | None = None,
        **params: float,
    ) -> ConvModel:
        """Count the dialogues (oldest first) over the catalogue rows `item_ids` (items outside it
        are ignored), each weighted by `recency` with the `half_life` of `params`; the seeker's words
        as `words_of` reads them (none without it), those heard in at least `MIN_HEARD` dialogues."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        position = pd.Index(item_ids)
        dialogues = list(dialogues)
        weights = recency(len(dialogues), params.get("half_life", 0.0))
        ans: list[tuple[int, int, float]] = []
        tog: list[tuple[int, int, float]] = []
        mentioned: list[tuple[int, float]] = []
        proposed: list[tuple[int, float]] = []
        vocabulary: dict[str, int] = {}
        said: list[tuple[int, int, float]] = []
        heard: list[tuple[int, float]] = []
        for d, weight in zip(dialogues, weights.tolist()):
            pairs: set[tuple[int, int]] = set()
            word_pairs: set[tuple[int, int]] = set()
            before: list[int] = []
            words: list[int] = []
            answers: set[int] = set()
            for t, (role, items) in enumerate(d.turns):
                rows = [int(r) for r in position.get_indexer(np.asarray(items, dtype=np.int64)) if r >= 0]
                if role == RECOMMENDER:
                    new = [r for r in rows if r not in before]
                    answers.update(new)
                    pairs.update((i, j) for i in before for j in new)
                    word_pairs.update((w, j) for w in words for j in new)
                elif words_of is not None and d.text(t):
                    said_now = [vocabulary.setdefault(w, len(vocabulary)) for w in words_of(d.text(t), items)]
                    words += [w for w in dict.fromkeys(said_now) if w not in words]
                before += [r for r in dict.fromkeys(rows) if r not in before]
            ans += [(i, j, weight) for i, j in pairs]
            tog += [(i, j, weight) for i in before for j in before if i != j]
            mentioned += [(i, weight) for i in before]
            proposed += [(j, weight) for j in answers]
            said += [(w, j, weight) for w, j in word_pairs]
            heard += [(w, weight) for w in words]
        shape = (len(item_ids), len(item_ids))
        dialogues_heard = np.bincount(np.asarray([w for w, _ in heard], np.int64), minlength=len(vocabulary))
        keep = np.flatnonzero(dialogues_heard >= MIN_HEARD)
        renumber = np.full(len(vocabulary), -1, np.int64)
        renumber[keep] = np.arange(len(keep))
        names = np.array(list(vocabulary), dtype=object)
        said = [(int(renumber[w]), j, x) for w, j, x in said if renumber[w] >= 0]
        return cls(
            item_ids,
            _counts(ans, shape),
            _counts(tog, shape),
            _sums(mentioned, len(item_ids)),
            _sums(proposed, len(item_ids)),
            len(dialogues),
            words=tuple(str(w) for w in names[keep]),
            said=_counts(said, (len(keep), len(item_ids))),
            heard=_sums(heard, len(vocabulary))[keep],
            **params,
        )

    @cached_property
    def position(self) -> pd.Index:
        """Catalogue id -> row."""
        return pd.Index(self.item_ids)

    @property
    def prior(self) -> np.ndarray:
        """Per row, the share of dialogues in which a recommender proposed the item."""
        return self.proposed / max(self.dialogues, 1)

    @cached_property
    def word_row(self) -> dict[str, int]:
        """Word -> row of `said`."""
        return {w: n for n, w in enumerate(self.words)}

    def score(self, items: Sequence[int], words: Sequence[str] = ()) -> np.ndarray:
        """One float per catalogue row for a conversation whose items so far are `items` (ids) and
        whose words are `words` (`needs_words`); the prior alone when none of them is known. Items
        of the conversation are scored like any other (the caller filters them)."""
        if not self.dialogues:
            return np.zeros(len(self.item_ids), np.float32)
        rows = self.position.get_indexer(np.asarray(list(items), dtype=np.int64))
        rows = rows[rows >= 0]
        evidence = np.zeros(len(self.item_ids), np.float64)
        seen = 0.0
        if len(rows):
            evidence += np.asarray(self.answered[rows].sum(axis=0)).ravel()
            evidence += self.together_weight * np.asarray(self.together[rows].sum(axis=0)).ravel()
            seen = float(self.mentioned[rows].sum())
        said = [self.word_row[w] for w in dict.fromkeys(words) if w in self.word_row]
        if said and self.said is not None and self.heard is not None and self.word_weight > 0:
            evidence += self.word_weight * np.asarray(self.said[said].sum(axis=0)).ravel()
            seen += self.word_weight * float(self.heard[said].sum())
        return ((evidence + self.shrinkage * self.prior) / (seen + self.shrinkage)).astype(np.float32)

    def column(self, items: Sequence[int], words: Sequence[str] = ()) -> np.ndarray:
        """The blend's "conv" column: `score` on a square-root scale. The rates are heavy-tailed (a
        handful of items answered most conversations), and the blend min-max scales each column, so
        on the rate's own scale one item's 1.0 leaves every other near 0; the root keeps the order
        and spreads the rest. Cross-fitted on ReDial's development half: R@10 0.189 -> 0.193, R@50
        0.302 -> 0.330 (reports/redial_notes.md).

        >>> from convrec.data.dialogs import SEEKER
        >>> m = ConvModel.fit([Dialogue("a", ((SEEKER, (1,)), (RECOMMENDER, (2,))))], np.array([1, 2]), shrinkage=1.0)
        >>> [round(x, 3) for x in m.column([1]).tolist()]  # rates 0 and (1 + 2 + 1) / 2 = 2
        [0.0, 1.414]
        """
        return np.sqrt(self.score(items, words))

    def aligned(self, item_ids: np.ndarray) -> ConvModel:
        """The same counts over other catalogue rows (an index rebuilt since): rows of items the
        model never counted are zero."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if np.array_equal(item_ids, self.item_ids):
            return self
        old = pd.Index(self.item_ids).get_indexer(item_ids)
        keep = np.flatnonzero(old >= 0)
        pick = sp.csr_matrix(
            (np.ones(len(keep), np.float32), (keep, old[keep])), shape=(len(item_ids), len(self.item_ids))
        )

        def vector(v: np.ndarray) -> np.ndarray:
            out = np.zeros(len(item_ids), np.float32)
            out[keep] = v[old[keep]]
            return out

        return ConvModel(
            item_ids,
            (pick @ self.answered @ pick.T).tocsr(),
            (pick @ self.together @ pick.T).tocsr(),
            vector(self.mentioned),
            vector(self.proposed),
            self.dialogues,
            self.shrinkage,
            self.together_weight,
            self.words,
            None if self.said is None else (self.said @ pick.T).tocsr(),
            self.heard,
            self.word_weight,
            self.half_life,
        )

    def save(self, index_dir: Path, sources: dict[str, Any]) -> dict[str, Any]:
        """Write the counts and a manifest (what they were learned from, the parameters) into
        `index_dir`; returns the manifest."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        a, t = self.answered.tocoo(), self.together.tocoo()
        w = (self.said if self.said is not None else sp.csr_matrix((0, len(self.item_ids)))).tocoo()
        tmp = index_dir / f".{CONV_FILE}.tmp.npz"
        np.savez_compressed(
            tmp,
            item_ids=self.item_ids,
            answered=np.stack([a.row, a.col, a.data]).astype(np.float64),
            together=np.stack([t.row, t.col, t.data]).astype(np.float64),
            mentioned=self.mentioned,
            proposed=self.proposed,
            words=np.array(self.words, dtype=str),
            said=np.stack([w.row, w.col, w.data]).astype(np.float64),
            heard=self.heard if self.heard is not None else np.zeros(0, np.float32),
        )
        tmp.replace(index_dir / CONV_FILE)
        manifest = {
            "dialogues": self.dialogues,
            "items_mentioned": int((self.mentioned > 0).sum()),
            "answer_pairs": int(self.answered.nnz),
            "words": len(self.words),
            "params": {
                "shrinkage": self.shrinkage,
                "together_weight": self.together_weight,
                "word_weight": self.word_weight,
                "half_life": self.half_life,
            },
            "sources": sources,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomic(index_dir / CONV_MANIFEST, json.dumps(manifest, indent=2))
        return manifest

    @classmethod
    def load(cls, index_dir: Path) -> ConvModel:
        index_dir = Path(index_dir)
        try:
            manifest = json.loads((index_dir / CONV_MANIFEST).read_text(encoding="utf-8"))
            with np.load(index_dir / CONV_FILE) as z:
                ids = z["item_ids"].astype(np.int64)
                shape = (len(ids), len(ids))

                def matrix(triples: np.ndarray, shape: tuple[int, int] = shape) -> sp.csr_matrix:
                    rows, cols, data = triples
                    return sp.csr_matrix((data.astype(np.float32), (rows.astype(int), cols.astype(int))), shape=shape)

                words = tuple(str(w) for w in z["words"]) if "words" in z else ()  # none in older models
                return cls(
                    ids,
                    matrix(z["answered"]),
                    matrix(z["together"]),
                    z["mentioned"].astype(np.float32),
                    z["proposed"].astype(np.float32),
                    int(manifest["dialogues"]),
                    words=words,
                    said=matrix(z["said"], (len(words), len(ids))) if words else None,
                    heard=z["heard"].astype(np.float32) if words else None,
                    **manifest["params"],
                )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexMissing(
                f"{index_dir}/{CONV_FILE} is damaged ({e}): run `convrec learn` again, or delete it to go without."
            ) from e


def needs_words(needs: Needs | NeedsUpdate) -> tuple[str, ...]:
    """The words of a conversation the model reads, casefolded: the genres wanted and preferred,
    the attribute words of its moods and topics, its keywords.

    >>> needs_words(Needs(include_genres=("Horror",), keywords=("twist", "horror")))
    ('horror', 'twist')
    """
    said = (
        *needs.include_genres,
        *needs.prefer_genres,
        *(needs.loose_genres if isinstance(needs, Needs) else ()),
        *needs.about,
        *needs.keywords,
    )
    return tuple(dict.fromkeys(w.casefold() for w in said))


def load_conv(index_dir: Path, item_ids: np.ndarray) -> ConvModel | None:
    """The conversation model of index/ over the index's rows, or None when there is none."""
    if not (Path(index_dir) / CONV_FILE).is_file():
        return None
    return ConvModel.load(index_dir).aligned(item_ids)


def recency(n: int, half_life: float) -> np.ndarray:
    """The weights of `n` dialogues, oldest first: halved every `half_life` dialogues back from the
    newest, scaled to average 1 (all 1 when `half_life` is 0).

    >>> recency(3, 1.0).round(3).tolist(), recency(2, 0.0).tolist()
    ([0.429, 0.857, 1.714], [1.0, 1.0])
    """
    if n == 0 or half_life <= 0:
        return np.ones(n)
    weights = 0.5 ** (np.arange(n - 1, -1, -1) / half_life)
    return weights * (n / weights.sum())


def _counts(pairs: list[tuple[int, int, float]], shape: tuple[int, int]) -> sp.csr_matrix:
    """(row, col, weight) triples -> a sparse matrix of each (row, col)'s summed weight."""
    if not pairs:
        return sp.csr_matrix(shape, dtype=np.float32)
    rows, cols, weights = np.asarray(pairs, dtype=np.float64).T
    m = sp.csr_matrix((weights.astype(np.float32), (rows.astype(np.int64), cols.astype(np.int64))), shape=shape)
    m.sum_duplicates()
    return m


def _sums(weighted: list[tuple[int, float]], n: int) -> np.ndarray:
    """(row, weight) pairs -> per row of `n`, its summed weight."""
    rows, weights = (np.asarray(x) for x in zip(*weighted)) if weighted else (np.zeros(0, np.int64), np.zeros(0))
    return np.bincount(rows.astype(np.int64), weights, minlength=n).astype(np.float32)
