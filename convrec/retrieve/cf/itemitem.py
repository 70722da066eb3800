"""Item-item scorers: cosine neighbourhoods with shrinkage (`ItemKNN`, Sarwar et al. 2001) and the
closed-form linear model of Steck (2019) sparsified per item (`EASE`). A session is folded in by
summing the rows of its liked items.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.core.errors import ConvrecError
from convrec.retrieve.cf.base import LIKED, Scorer, interaction_matrix


class _ItemItem(Scorer):
    """A scorer whose model is a sparse item x item weight matrix: score = history @ sim."""

    files = ("cf_item_ids.npy", "cf_sim.npz")

    def __init__(self) -> None:
        super().__init__()
        self.sim = sp.csr_matrix((0, 0), dtype=np.float32)

    def score_many(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray((history @ self.sim).toarray(), dtype=np.float32)

    def _similarity(self, rows: np.ndarray, row: int) -> np.ndarray:
        return np.asarray(self.sim[rows][:, [row]].toarray()).ravel()

    def _arrays(self) -> dict[str, Any]:
        return {"cf_sim.npz": self.sim}

    def _restore(self, arrays: dict[str, Any]) -> None:
        self.sim = arrays["cf_sim.npz"].astype(np.float32)


class ItemKNN(_ItemItem):
    """Cosine item-item similarity over positive interactions, top-`neighbors` kept per item.

    `shrinkage` damps similarities between items that share few users (a standard
    neighbourhood-model regulariser).
    """

    name = "item-knn"

    def __init__(self, neighbors: int = 50, shrinkage: float = 10.0, min_rating: float = LIKED) -> None:
        super().__init__()
        self.neighbors = neighbors
        self.shrinkage = shrinkage
        self.min_rating = min_rating

    def _params(self) -> dict[str, Any]:
        return {"neighbors": self.neighbors, "shrinkage": self.shrinkage, "min_rating": self.min_rating}

    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> ItemKNN:
        self._set_items(item_ids)
        x, _ = interaction_matrix(interactions, self.item_ids, self.min_rating)
        self.sim = _cosine_top_k(x, self.neighbors, self.shrinkage)
        return self


class EASE(_ItemItem):
    """Steck's EASE: B = argmin ||X - XB||² + l2·||B||², diag(B) = 0, in closed form.

    B = I - P·diag(1/diag(P)) with P = (XᵀX + Λ)⁻¹, over the items with at least one
    positive interaction (the others score 0). Λ = l2·I for EASE; `dropout` p > 0 adds
    p/(1-p)·diag(XᵀX), the closed form of training with input dropout (EDLAE, Steck 2020),
    which regularises popular items more. Each row of B is then cut to its `neighbors`
    largest weights by magnitude (None keeps all), which keeps the saved model small; EASE
    weights can be negative, and the negative ones are kept too.
    """

    name = "ease"
    max_items: ClassVar[int] = 20_000  # the fit holds ~3 dense float64 n x n matrices: 10 GB at 20k

    def __init__(
        self, l2: float = 400.0, dropout: float = 0.5, neighbors: int | None = 200, min_rating: float = LIKED
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"EASE dropout must be in [0, 1), got {dropout}")
        self.l2 = l2
        self.dropout = dropout
        self.neighbors = neighbors
        self.min_rating = min_rating

    def _params(self) -> dict[str, Any]:
        return {"l2": self.l2, "dropout": self.dropout, "neighbors": self.neighbors, "min_rating": self.min_rating}

    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> EASE:
        self._set_items(item_ids)
        x, _ = interaction_matrix(interactions, self.item_ids, self.min_rating)
        active = np.flatnonzero(np.asarray(x.sum(axis=0)).ravel() > 0)
        n = len(self.item_ids)
        if not len(active):
            self.sim = sp.csr_matrix((n, n), dtype=np.float32)
            return self
        if len(active) > self.max_items:
            raise ConvrecError(
                f"EASE needs a dense {len(active):,} x {len(active):,} matrix (more than max_items="
                f"{self.max_items:,} items with interactions): set CONVREC_CF_MODEL=item-knn or als"
            )
        xa = x[:, active]
        gram = (xa.T @ xa).toarray().astype(np.float64)
        diag = np.diag(gram).copy()
        gram[np.diag_indices_from(gram)] += self.l2 + self.dropout / (1.0 - self.dropout) * diag
        p = _inverse_spd(gram)
        b = -p / np.diag(p)[None, :]
        b[np.diag_indices_from(b)] = 0.0
        b = b.astype(np.float32)
        del gram, p
        if self.neighbors is not None and self.neighbors < len(active):
            top = np.empty((len(active), self.neighbors), np.int64)
            for start in range(0, len(active), 1024):  # in blocks: argpartition copies its input
                block = np.abs(b[start : start + 1024])
                top[start : start + 1024] = np.argpartition(-block, self.neighbors - 1, axis=1)[:, : self.neighbors]
            rows = np.repeat(np.arange(len(active)), self.neighbors)
            cols = top.ravel()
            vals = b[rows, cols]
        else:
            rows, cols = np.nonzero(b)
            vals = b[rows, cols]
        self.sim = sp.csr_matrix((vals, (active[rows], active[cols])), shape=(n, n), dtype=np.float32)
        self.sim.eliminate_zeros()
        return self


def _cosine_top_k(x: sp.csr_matrix, k: int, shrinkage: float, chunk: int = 1024) -> sp.csr_matrix:
    """Shrunk cosine between the columns of `x`, the k largest positive ones kept per item.

    sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i|·|U_j|) + shrinkage), self-similarity 0. Computed a
    block of items at a time, so memory is chunk x items however large the catalogue.

    >>> x = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1]], np.float32))
    >>> _cosine_top_k(x, k=2, shrinkage=0.0).toarray().astype(float).round(3).tolist()
    [[0.0, 1.0, 0.707], [1.0, 0.0, 0.707], [0.707, 0.707, 0.0]]
    """
    n = x.shape[1]
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(x.sum(axis=0), dtype=np.float32).ravel())
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        co = np.asarray((xt[start:stop] @ x).toarray(), dtype=np.float32)
        co[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sim = co / (norms[start:stop, None] * norms[None, :] + shrinkage + 1e-12)
        kk = min(k, n)
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        v = np.take_along_axis(sim, top, axis=1)
        r = np.repeat(np.arange(start, stop), kk)
        keep = v.ravel() > 0
        rows.append(r[keep])
        cols.append(top.ravel()[keep])
        vals.append(v.ravel()[keep])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )


def _inverse_spd(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix via Cholesky (a third of LU's flops).

    >>> _inverse_spd(np.array([[4.0, 2.0], [2.0, 3.0]])).round(3).tolist()
    [[0.375, -0.25], [-0.25, 0.5]]
    """
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(a, lower=False, overwrite_a=False)
    if info == 0:
        inv, info = lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:  # not positive definite (cannot happen with l2 > 0); fall back to LU
        return np.linalg.inv(a)
    return np.triu(inv) + np.triu(inv, 1).T
