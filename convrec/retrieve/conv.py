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

A conversation whose items so far are S is scored, for every item j, as a conditional rate
smoothed toward the recommenders' prior:

    conv[j] = (sum_i∈S answered[i, j] + together_weight * together[i, j] + shrinkage * prior[j])
              / (sum_i∈S mentioned[i] + shrinkage),       prior[j] = proposed[j] / dialogues

With nothing known of the conversation (S empty, or no item of S ever mentioned), it is the
prior: what recommenders in the dialogues answered with most. With a lot of evidence it is how
often j answered S's items. `shrinkage` says how many dialogues of evidence it takes to move
away from the prior. The recommender (`convrec.chat.recommender`) adds it as the "conv" column
of the blend, with the weight `Settings.w_conv`; with no model in index/ nothing changes.

>>> from convrec.data.dialogs import SEEKER
>>> m = ConvModel.fit([Dialogue("a", ((SEEKER, (1,)), (RECOMMENDER, (2,)))),
...                    Dialogue("b", ((SEEKER, (3,)), (RECOMMENDER, (4,))))], np.array([1, 2, 3, 4]), shrinkage=1.0)
>>> m.score([1]).tolist()  # 2 answered 1 (and came up with it); 4 only has the prior
[0.0, 1.0, 0.0, 0.25]

Left out on purpose: order beyond "before" (which utterance, how far back), negative evidence
(a disliked item is simply not part of S), and anything learned per person.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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
from convrec.data.dialogs import RECOMMENDER, Dialogue

__all__ = ["CONV_FILE", "CONV_MANIFEST", "ConvModel", "load_conv"]

CONV_FILE = "conv_model.npz"  # the counts, under index/
CONV_MANIFEST = "conv_model.json"  # what they were learned from, and the parameters


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
    together_weight: float = 0.5

    @classmethod
    def fit(cls, dialogues: Iterable[Dialogue], item_ids: np.ndarray, **params: float) -> ConvModel:
        """Count the dialogues over the catalogue rows `item_ids` (items outside it are ignored)."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        position = pd.Index(item_ids)
        ans: list[tuple[int, int]] = []
        tog: list[tuple[int, int]] = []
        mentioned: list[int] = []
        proposed: list[int] = []
        n = 0
        for d in dialogues:
            n += 1
            pairs: set[tuple[int, int]] = set()
            before: list[int] = []
            answers: set[int] = set()
            for role, items in d.turns:
                rows = [int(r) for r in position.get_indexer(np.asarray(items, dtype=np.int64)) if r >= 0]
                if role == RECOMMENDER:
                    new = [r for r in rows if r not in before]
                    answers.update(new)
                    pairs.update((i, j) for i in before for j in new)
                before += [r for r in dict.fromkeys(rows) if r not in before]
            ans += pairs
            tog += [(i, j) for i in before for j in before if i != j]
            mentioned += before
            proposed += answers
        shape = (len(item_ids), len(item_ids))
        return cls(
            item_ids,
            _counts(ans, shape),
            _counts(tog, shape),
            np.bincount(np.asarray(mentioned, np.int64), minlength=len(item_ids)).astype(np.float32),
            np.bincount(np.asarray(proposed, np.int64), minlength=len(item_ids)).astype(np.float32),
            n,
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

    def score(self, items: Sequence[int]) -> np.ndarray:
        """One float per catalogue row for a conversation whose items so far are `items` (ids);
        the prior alone when none of them is known. Items of the conversation are scored like any
        other (the caller filters them)."""
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
        return ((evidence + self.shrinkage * self.prior) / (seen + self.shrinkage)).astype(np.float32)

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
        )

    def save(self, index_dir: Path, sources: dict[str, Any]) -> dict[str, Any]:
        """Write the counts and a manifest (what they were learned from, the parameters) into
        `index_dir`; returns the manifest."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        a, t = self.answered.tocoo(), self.together.tocoo()
        tmp = index_dir / f".{CONV_FILE}.tmp.npz"
        np.savez_compressed(
            tmp,
            item_ids=self.item_ids,
            answered=np.stack([a.row, a.col, a.data]).astype(np.float64),
            together=np.stack([t.row, t.col, t.data]).astype(np.float64),
            mentioned=self.mentioned,
            proposed=self.proposed,
        )
        tmp.replace(index_dir / CONV_FILE)
        manifest = {
            "dialogues": self.dialogues,
            "items_mentioned": int((self.mentioned > 0).sum()),
            "answer_pairs": int(self.answered.nnz),
            "params": {"shrinkage": self.shrinkage, "together_weight": self.together_weight},
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

                def matrix(triples: np.ndarray) -> sp.csr_matrix:
                    rows, cols, data = triples
                    return sp.csr_matrix((data.astype(np.float32), (rows.astype(int), cols.astype(int))), shape=shape)

                return cls(
                    ids,
                    matrix(z["answered"]),
                    matrix(z["together"]),
                    z["mentioned"].astype(np.float32),
                    z["proposed"].astype(np.float32),
                    int(manifest["dialogues"]),
                    **manifest["params"],
                )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexMissing(
                f"{index_dir}/{CONV_FILE} is damaged ({e}): run `convrec learn` again, or delete it to go without."
            ) from e


def load_conv(index_dir: Path, item_ids: np.ndarray) -> ConvModel | None:
    """The conversation model of index/ over the index's rows, or None when there is none."""
    if not (Path(index_dir) / CONV_FILE).is_file():
        return None
    return ConvModel.load(index_dir).aligned(item_ids)


def _counts(pairs: list[tuple[int, int]], shape: tuple[int, int]) -> sp.csr_matrix:
    """(row, col) pairs -> a sparse matrix of how often each occurs."""
    if not pairs:
        return sp.csr_matrix(shape, dtype=np.float32)
    rows, cols = np.asarray(pairs, dtype=np.int64).T
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m
