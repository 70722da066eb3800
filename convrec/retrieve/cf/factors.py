"""Matrix factorisation from the `implicit` library (`ALS`, `BPR`); a session is folded in with one
least-squares step against the item factors (Hu, Koren & Volinsky 2008), and its best items are
found by an exact inner-product search that reads only the factors that could still make the top
(`NormOrder`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.retrieve.cf.base import LIKED, Folded, Scorer, interaction_matrix
from convrec.retrieve.index import EXACT_SUBSET_MAX

FIRST_BLOCK = 4  # the search reads 4·n rows first (n the top asked for), then twice as many each step


class NormOrder:
    """Item factors in decreasing order of their norm, for an exact top-n by inner product.

    y·u ≤ |y|·|u| (Cauchy–Schwarz), so once the n-th best score found is at least |y|·|u| for the
    next row, no row after it can enter the top n: the search reads rows in norm order, a block
    at a time (each twice the last), and stops there. Factor norms are skewed (items few people
    chose have small factors; items nobody chose, zero ones), so a fold-in reads a small share of
    the rows and still returns what scoring every row would. At worst, with scores as small as
    the smallest norms allow, it reads every row once, as a full scan does.
    """

    def __init__(self, factors: np.ndarray) -> None:
        norms = np.linalg.norm(factors, axis=1)
        self.order = np.argsort(-norms, kind="stable")  # sorted row -> catalogue row
        self.rank = np.empty_like(self.order)
        self.rank[self.order] = np.arange(len(self.order))  # catalogue row -> sorted row
        self.factors = np.ascontiguousarray(factors[self.order], dtype=np.float32)
        self.norms = norms[self.order]

    def top(self, u: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Catalogue rows of the `n` largest inner products with `u` among the `allowed` rows (in
        no particular order; ties at the n-th score broken either way), and how many rows it read."""
        u = np.ascontiguousarray(u, dtype=np.float32)
        if allowed is not None and allowed.all():
            allowed = None
        if allowed is not None and allowed.sum() <= EXACT_SUBSET_MAX:
            rows = np.flatnonzero(allowed)  # few rows allowed: score just those
            return rows[_best(inner_products(self.factors[self.rank[rows]], u), n)], len(rows)
        total = len(self.order)
        length = float(np.linalg.norm(u))
        best_rows, best = np.empty(0, np.int64), np.empty(0, np.float32)
        start, block, stop_at, floor = 0, max(1_024, FIRST_BLOCK * n), total, -np.inf
        while start < stop_at:
            stop = min(stop_at, start + block)
            scores = inner_products(self.factors[start:stop], u)
            keep = scores >= floor  # only rows that beat the n-th best so far
            if allowed is not None:
                keep &= allowed[self.order[start:stop]]
            best_rows = np.concatenate([best_rows, np.flatnonzero(keep) + start])
            best = np.concatenate([best, scores[keep]])
            chosen = _best(best, n)
            best_rows, best = best_rows[chosen], best[chosen]
            start, block = stop, block * 2
            if len(best) >= n:  # only rows whose norm could still reach the n-th score are left to read
                floor = best.min()
                bound = floor / length if length > 0 else np.inf
                stop_at = min(stop_at, int(np.searchsorted(-self.norms, -bound, side="right")))
        return self.order[best_rows], start


def inner_products(rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`rows @ u` (C-ordered float32) on the calling thread alone, in FAISS's SIMD loop: NumPy's
    BLAS split a product this size over its threads and on shared cores waited for the slower one
    (80k x 32 rows: 32 ms p50 instead of 0.3 ms, load average ~14).

    >>> inner_products(np.eye(3, dtype=np.float32), np.array([1, 2, 3], np.float32)).tolist()
    [1.0, 2.0, 3.0]
    """
    out = np.empty(len(rows), np.float32)
    if len(rows):
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(u), faiss.swig_ptr(rows), u.size, len(rows))
    return out


def _best(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` largest `scores` (all of them when there are at most n).

    >>> sorted(_best(np.array([0.1, 0.9, 0.5]), 2).tolist())
    [1, 2]
    """
    if len(scores) <= n:
        return np.arange(len(scores))
    return np.argpartition(-scores, n - 1)[:n]


class Factors(Scorer):
    """Matrix factorisation: items have factor vectors; a session is folded in by least squares.

    The fold-in is one ALS half-step with the items fixed (Hu, Koren & Volinsky 2008): with Y
    the item factors and L the liked rows, u = (YᵀY + alpha·Y_LᵀY_L + reg·I)⁻¹ (1 + alpha)·Y_Lᵀ1,
    and the scores are Y·u. For ALS this is exactly the user update training makes.
    """

    files = ("cf_item_ids.npy", "cf_item_factors.npy")

    def __init__(
        self, factors: int, regularization: float, alpha: float, iterations: int, seed: int, min_rating: float
    ) -> None:
        super().__init__()
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.min_rating = min_rating
        self.item_factors = np.zeros((0, factors), np.float32)
        self.user_factors: np.ndarray | None = None  # of the training users; not saved
        self.user_ids = np.empty(0, np.int64)
        self.order = NormOrder(self.item_factors)  # the factors as the fold-in's search reads them

    def _params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "seed": self.seed,
            "min_rating": self.min_rating,
        }

    def _train(self, x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(user factors, item factors) learnt from the binary users x items matrix."""
        raise NotImplementedError

    def score_users(self, user_ids: np.ndarray) -> np.ndarray | None:
        """Scores of training users from their learnt factors (None before `fit` in this process).

        Users that were not in the training data get all-zero rows.
        """
        if self.user_factors is None:
            return None
        rows = pd.Index(self.user_ids).get_indexer(np.asarray(user_ids, dtype=np.int64))
        u = np.where((rows >= 0)[:, None], self.user_factors[np.maximum(rows, 0)], 0.0)
        return (u @ self.item_factors.T).astype(np.float32)

    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> Factors:
        from threadpoolctl import threadpool_limits

        self._set_items(item_ids)
        x, self.user_ids = interaction_matrix(interactions, self.item_ids, self.min_rating)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit parallelises itself and warns when BLAS would add threads of its own
            warnings.simplefilter("ignore", RuntimeWarning)
            users, items = self._train(x)
        self.user_factors = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(items, dtype=np.float32)
        self.order = NormOrder(self.item_factors)
        return self

    def fold_in(self, liked: Sequence[int], disliked: Sequence[int] = ()) -> Folded:
        rows = self._rows(liked)
        if not len(rows):
            return super().fold_in(liked, disliked)  # all zeros
        u = self._fold(self.session_matrix([rows]))[0]
        dis = self._rows(disliked)
        if len(dis):
            u = u - 0.5 * self._fold(self.session_matrix([dis]))[0]
        return FactorFold(u.astype(np.float32), self.item_factors, self.item_ids, self.order)

    def score_many(self, history: sp.csr_matrix) -> np.ndarray:
        # the solve in float64, the product with every item in float32: a million items cost
        # ~10 ms a session instead of ~100 ms with a float64 copy of the factors per call
        return self._fold(history).astype(np.float32) @ self.item_factors.T

    def _fold(self, history: sp.csr_matrix) -> np.ndarray:
        """The fold-in user vectors (sessions x factors, float64) of the sessions' liked rows."""
        y = self.item_factors
        f = y.shape[1]
        if getattr(self, "_gram_of", None) is not y:  # YᵀY once per model, not per session
            y64 = y.astype(np.float64)
            self._gram, self._gram_of = y64.T @ y64, y
        users = np.zeros((history.shape[0], f))
        for r in range(history.shape[0]):
            rows = history.indices[history.indptr[r] : history.indptr[r + 1]]
            if not len(rows):
                continue
            yl = y[rows].astype(np.float64)
            ridge = self._gram + self.user_regularization(len(rows)) * np.eye(f)
            users[r] = np.linalg.solve(ridge + self.alpha * yl.T @ yl, (1.0 + self.alpha) * yl.sum(axis=0))
        return users

    def user_regularization(self, n_liked: int) -> float:
        """The ridge term of a user's least-squares update (training's, so fold-in matches it)."""
        return self.regularization

    def _similarity(self, rows: np.ndarray, row: int) -> np.ndarray:
        y = self.item_factors
        norms = np.linalg.norm(y[rows], axis=1) * np.linalg.norm(y[row]) + 1e-9
        return (y[rows] @ y[row]) / norms

    def _arrays(self) -> dict[str, Any]:
        return {"cf_item_factors.npy": self.item_factors}

    def _restore(self, arrays: dict[str, Any]) -> None:
        self.item_factors = arrays["cf_item_factors.npy"].astype(np.float32)
        self.order = NormOrder(self.item_factors)


class FactorFold(Folded):
    """A session folded into a factor model: its user vector u; scores are Y·u, read where asked."""

    def __init__(self, u: np.ndarray, factors: np.ndarray, ids: np.ndarray, order: NormOrder) -> None:
        super().__init__(np.zeros(0, np.float32), ids)
        self.u, self.factors, self.order = u, factors, order
        self.scanned = 0  # factor rows the last `top` read

    def any(self) -> bool:
        return bool(self.u.any())

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        rows, self.scanned = self.order.top(self.u, n, allowed)
        return self.ids[rows]

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.factors[rows] @ self.u if len(rows) else np.zeros(0, np.float32)


class ALS(Factors):
    """Implicit-feedback ALS (`implicit.cpu.als`), confidence 1 + alpha for each like."""

    name = "als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 1.0,
        alpha: float = 5.0,
        iterations: int = 15,
        seed: int = 42,
        min_rating: float = LIKED,
    ) -> None:
        super().__init__(factors, regularization, alpha, iterations, seed, min_rating)

    def _train(self, x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self.seed,
        )  # fmt: skip
        model.fit(x, show_progress=False)
        return model.user_factors, model.item_factors


class BPR(Factors):
    """Bayesian personalised ranking (`implicit.cpu.bpr`); the last factor column is the item bias."""

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 2.0,
        iterations: int = 100,
        seed: int = 42,
        min_rating: float = LIKED,
        learning_rate: float = 0.05,
    ) -> None:
        super().__init__(factors, regularization, alpha, iterations, seed, min_rating)
        self.learning_rate = learning_rate

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "learning_rate": self.learning_rate}

    def _train(self, x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=1,
        )  # fmt: skip  (one thread: implicit's parallel SGD is Hogwild, so not reproducible)
        model.fit(x, show_progress=False)
        return model.user_factors, model.item_factors
