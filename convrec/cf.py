"""Collaborative scorers learned from interactions.

A chat user is a new user: we know only the items they liked or disliked in this session.
Item-based neighbourhoods fold such a session in without retraining: the score of an item
is the sum of its similarities to the liked items, minus half the sum to the disliked ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


class ItemKNN:
    """Cosine item-item similarity over positive interactions, top-`neighbors` kept per item.

    `shrinkage` damps similarities between items that share few users (a standard
    neighbourhood-model regulariser).
    """

    name = "item-knn"

    def __init__(self, neighbors: int = 50, shrinkage: float = 10.0, min_rating: float = 3.5) -> None:
        self.neighbors = neighbors
        self.shrinkage = shrinkage
        self.min_rating = min_rating
        self.item_ids = np.empty(0, np.int64)
        self.sim = sp.csr_matrix((0, 0), dtype=np.float32)

    def config(self) -> dict:
        return {"name": self.name, "neighbors": self.neighbors, "shrinkage": self.shrinkage, "min_rating": self.min_rating}

    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> ItemKNN:
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._position = pd.Index(self.item_ids)
        positive = interactions[interactions["rating"] >= self.min_rating]
        cols = self._position.get_indexer(positive["item_id"].to_numpy())
        keep = cols >= 0
        users = pd.factorize(positive["user_id"].to_numpy()[keep])[0]
        x = sp.csr_matrix(
            (np.ones(keep.sum(), np.float32), (users, cols[keep])),
            shape=(users.max() + 1 if len(users) else 0, len(self.item_ids)),
        )
        x.data[:] = 1.0  # duplicates count once
        co = (x.T @ x).tocsr().astype(np.float32)
        co.setdiag(0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel()).astype(np.float32)
        co = co.tocoo()
        denom = norms[co.row] * norms[co.col] + self.shrinkage
        sim = sp.csr_matrix((co.data / denom, (co.row, co.col)), shape=co.shape)
        self.sim = _top_per_row(sim, self.neighbors)
        return self

    def score(self, liked: Sequence[int], disliked: Sequence[int] = ()) -> np.ndarray:
        """Scores for every catalogue row (zeros when the session has no known likes)."""
        out = np.zeros(len(self.item_ids), np.float32)
        for ids, weight in ((liked, 1.0), (disliked, -0.5)):
            rows = self._rows(ids)
            if len(rows):
                out += weight * np.asarray(self.sim[rows].sum(axis=0)).ravel()
        return out

    def because(self, item_id: int, liked: Sequence[int]) -> int | None:
        """The liked item most similar to `item_id`, or None when none is a neighbour."""
        rows, row = self._rows(liked), self._rows([item_id])
        if not len(rows) or not len(row):
            return None
        sims = np.asarray(self.sim[rows][:, row].todense()).ravel()
        best = int(np.argmax(sims))
        return int(self.item_ids[rows[best]]) if sims[best] > 0 else None

    def _rows(self, ids: Sequence[int]) -> np.ndarray:
        rows = self._position.get_indexer(np.asarray(list(ids), dtype=np.int64))
        return rows[rows >= 0]

    def save(self, directory: Path) -> None:
        sp.save_npz(directory / "cf_sim.npz", self.sim)
        np.save(directory / "cf_item_ids.npy", self.item_ids)

    @classmethod
    def load(cls, directory: Path, config: dict) -> ItemKNN:
        model = cls(**{k: v for k, v in config.items() if k != "name"})
        model.sim = sp.load_npz(directory / "cf_sim.npz").tocsr()
        model.item_ids = np.load(directory / "cf_item_ids.npy")
        model._position = pd.Index(model.item_ids)
        return model


def _top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row.

    >>> _top_per_row(sp.csr_matrix(np.array([[0, 3, 1, 2]], np.float32)), 2).toarray().tolist()
    [[0.0, 3.0, 0.0, 2.0]]
    """
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        start, end = m.indptr[r], m.indptr[r + 1]
        if end == start:
            continue
        data, idx = m.data[start:end], m.indices[start:end]
        if end - start > k:
            top = np.argpartition(-data, k)[:k]
            data, idx = data[top], idx[top]
        rows.append(np.full(len(idx), r))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape, dtype=np.float32
    )
