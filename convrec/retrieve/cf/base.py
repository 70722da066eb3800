"""Collaborative scorers learned from interactions, all behind one small interface.

A chat user is a new user: we know only the items they liked or disliked in this session.
Every scorer here therefore *folds a session in* without retraining:

    scorer.fit(interactions, item_ids)          # once, offline
    scorer.score(liked=[1, 50], disliked=[7])   # per turn: one float per catalogue row

`score_many(history)` does the same for a batch of sessions (rows of a users x items matrix);
the evaluation harness scores known users that way, so what is measured offline is exactly what
a chat session gets. A session's score is the fold-in of its likes minus half the fold-in of
its dislikes, and all zeros when none of its liked items is known.

The scorers:
  - `Popularity`: how many users liked each item (the baseline every other must beat);
  - `ItemKNN`: cosine item-item neighbourhoods with shrinkage (Sarwar et al. 2001);
  - `EASE`: the closed-form linear item-item model of Steck (2019), sparsified per item;
  - `ALS` / `BPR`: matrix factorisation from the `implicit` library; a session is folded in
    with one least-squares step against the item factors (Hu, Koren & Volinsky 2008).

Left out on purpose: rating prediction (we rank, never predict stars), user-user models (a
chat user has no neighbours until they have several likes), and GPU training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.core.errors import ConvrecError
from convrec.retrieve.filters import top_allowed

LIKED = 3.5  # a rating at or above this is a like (MovieLens half-star scale)


class UnknownScorer(ConvrecError, ValueError):
    """A configuration names a collaborative scorer that does not exist."""


def interaction_matrix(
    interactions: pd.DataFrame, item_ids: np.ndarray, min_rating: float = LIKED
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A binary users x catalogue-rows matrix of positive interactions, and the user id of each row.

    Interactions with unknown items or a rating below `min_rating` are dropped; repeats count once.

    >>> df = pd.DataFrame({"user_id": [7, 7, 9], "item_id": [20, 10, 20], "rating": [5.0, 1.0, 4.0]})
    >>> x, users = interaction_matrix(df, np.array([10, 20]))
    >>> x.toarray().tolist(), users.tolist()
    ([[0.0, 1.0], [0.0, 1.0]], [7, 9])
    """
    position = pd.Index(np.asarray(item_ids, dtype=np.int64))
    positive = interactions[interactions["rating"] >= min_rating]
    cols = position.get_indexer(positive["item_id"].to_numpy())
    keep = cols >= 0
    codes, users = pd.factorize(positive["user_id"].to_numpy()[keep], sort=True)
    x = sp.csr_matrix((np.ones(len(codes), np.float32), (codes, cols[keep])), shape=(len(users), len(position)))
    x.sum_duplicates()
    x.data[:] = 1.0
    return x, np.asarray(users, dtype=np.int64)


class Scorer:
    """The interface every collaborative scorer implements.

    Subclasses set `name`, `files` (what `save` writes) and implement `fit`, `score_many`,
    `_similarity`, `_arrays` and `_restore`; constructor keyword arguments are the config.
    """

    name: ClassVar[str] = ""
    files: ClassVar[tuple[str, ...]] = ()
    min_rating: float = LIKED

    def __init__(self) -> None:
        self.item_ids = np.empty(0, np.int64)
        self._position = pd.Index(self.item_ids)

    # -- the interface ---------------------------------------------------------------------
    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> Scorer:
        raise NotImplementedError

    def score_many(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores (sessions x catalogue rows, float32) for sessions given as rows of liked items."""
        raise NotImplementedError

    def score(self, liked: Sequence[int], disliked: Sequence[int] = ()) -> np.ndarray:
        """Scores for every catalogue row (zeros when the session has no known likes).

        Items the session already named are scored like any other; the caller filters them.
        """
        out = np.zeros(len(self.item_ids), np.float32)
        liked_rows = self._rows(liked)
        if not len(liked_rows):
            return out
        out += self.score_many(self.session_matrix([liked_rows]))[0]
        disliked_rows = self._rows(disliked)
        if len(disliked_rows):
            out -= 0.5 * self.score_many(self.session_matrix([disliked_rows]))[0]
        return out

    def fold_in(self, liked: Sequence[int], disliked: Sequence[int] = ()) -> Folded:
        """A session's scores as a turn reads them: its best allowed items and the scores of given
        rows (here from `score`, every row scored; factor models search instead)."""
        return Folded(self.score(liked, disliked), self.item_ids)

    def because(self, item_id: int, liked: Sequence[int]) -> int | None:
        """The liked item most similar to `item_id`, or None when none is similar at all."""
        rows, row = self._rows(liked), self._rows([item_id])
        if not len(rows) or not len(row):
            return None
        sims = self._similarity(rows, int(row[0]))
        if sims is None or not len(sims):
            return None
        best = int(np.argmax(sims))
        return int(self.item_ids[rows[best]]) if sims[best] > 0 else None

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self._params()}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "cf_item_ids.npy", self.item_ids)
        for file, value in self._arrays().items():
            if sp.issparse(value):
                sp.save_npz(directory / file, value.tocsr())
            else:
                np.save(directory / file, value)

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> Scorer:
        directory = Path(directory)
        model = cls(**{k: v for k, v in config.items() if k != "name"})
        model._set_items(np.load(directory / "cf_item_ids.npy"))
        arrays = {}
        for file in cls.files:
            if file == "cf_item_ids.npy":
                continue
            path = directory / file
            arrays[file] = sp.load_npz(path).tocsr() if file.endswith(".npz") else np.load(path)
        model._restore(arrays)
        return model

    # -- helpers ---------------------------------------------------------------------------
    def session_matrix(self, sessions: Sequence[Sequence[int] | np.ndarray]) -> sp.csr_matrix:
        """Rows of catalogue-row positions -> a binary sessions x items matrix."""
        indptr = np.cumsum([0, *(len(s) for s in sessions)])
        indices = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in sessions])
            if len(sessions)
            else np.empty(0, np.int64)
        )
        x = sp.csr_matrix((np.ones(indptr[-1], np.float32), indices, indptr), shape=(len(sessions), len(self.item_ids)))
        x.sum_duplicates()
        x.data[:] = 1.0
        return x

    def positions(self, ids: Sequence[int]) -> np.ndarray:
        """Catalogue rows of the known ids among `ids` (unknown ids are dropped)."""
        rows = self._position.get_indexer(np.asarray(list(ids), dtype=np.int64))
        return rows[rows >= 0]

    _rows = positions

    def _set_items(self, item_ids: np.ndarray) -> None:
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._position = pd.Index(self.item_ids)

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def _similarity(self, rows: np.ndarray, row: int) -> np.ndarray | None:
        raise NotImplementedError

    def _arrays(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore(self, arrays: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"


class Folded:
    """One session's collaborative scores, every catalogue row's."""

    def __init__(self, scores: np.ndarray, ids: np.ndarray) -> None:
        self.scores, self.ids = scores, ids

    def any(self) -> bool:
        """Whether the session has any score (a known like)."""
        return bool(self.scores.any())

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        """The ids of the `n` best-scoring allowed rows (in no particular order)."""
        return top_allowed(self.ids, self.scores, allowed, n)

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The scores of catalogue rows `rows`."""
        return self.scores[rows] if len(rows) else np.zeros(0, np.float32)


class Popularity(Scorer):
    """How many users liked each item, scaled to [0, 1]; the same for every session with a like."""

    name = "popularity"
    files = ("cf_item_ids.npy", "cf_pop.npy")

    def __init__(self, min_rating: float = LIKED) -> None:
        super().__init__()
        self.min_rating = min_rating
        self.counts = np.zeros(0, np.float32)

    def _params(self) -> dict[str, Any]:
        return {"min_rating": self.min_rating}

    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> Popularity:
        self._set_items(item_ids)
        x, _ = interaction_matrix(interactions, self.item_ids, self.min_rating)
        self.counts = np.asarray(x.sum(axis=0), dtype=np.float32).ravel()
        return self

    def score_many(self, history: sp.csr_matrix) -> np.ndarray:
        top = float(self.counts.max()) if len(self.counts) else 0.0
        row = self.counts / top if top > 0 else self.counts
        return np.tile(row.astype(np.float32), (history.shape[0], 1))

    def score(self, liked: Sequence[int], disliked: Sequence[int] = ()) -> np.ndarray:
        if not len(self._rows(liked)):
            return np.zeros(len(self.item_ids), np.float32)
        return self.score_many(self.session_matrix([[]]))[0]

    def _similarity(self, rows: np.ndarray, row: int) -> None:
        return None  # popularity explains nothing about a liked item

    def _arrays(self) -> dict[str, Any]:
        return {"cf_pop.npy": self.counts}

    def _restore(self, arrays: dict[str, Any]) -> None:
        self.counts = arrays["cf_pop.npy"].astype(np.float32)
