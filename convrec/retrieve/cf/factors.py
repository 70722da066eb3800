"""Matrix factorisation from the `implicit` library (`ALS`, `BPR`); a session is folded in with one
least-squares step against the item factors (Hu, Koren & Volinsky 2008).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.core.files import write_atomic
from convrec.retrieve.cf.base import LIKED, Folded, Scorer, interaction_matrix
from convrec.retrieve.index import ItemIndex, choose_kind

INDEX = "cf_factor"  # cf_factors.faiss + cf_factor_ids.npy: the inner-product index of the item factors


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
        self.index: ItemIndex | None = None  # over the item factors; built by fit, loaded by load

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
        self.index = None
        return self

    def factor_index(self) -> ItemIndex:
        """The inner-product index of the item factors (built on first use after `fit`)."""
        if self.index is None:
            self.index = ItemIndex.build(self.item_factors, self.item_ids)
        return self.index

    def fold_in(self, liked: Sequence[int], disliked: Sequence[int] = ()) -> Folded:
        rows = self._rows(liked)
        if not len(rows):
            return super().fold_in(liked, disliked)  # all zeros
        u = self._fold(self.session_matrix([rows]))[0]
        dis = self._rows(disliked)
        if len(dis):
            u = u - 0.5 * self._fold(self.session_matrix([dis]))[0]
        return FactorFold(u.astype(np.float32), self.item_factors, self.factor_index())

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

    def save(self, directory: Path) -> None:
        """The factors, and their index where it is approximate (an exact one is rebuilt in a blink)."""
        super().save(directory)
        (Path(directory) / f"{INDEX}s.faiss").unlink(missing_ok=True)
        if choose_kind(len(self.item_ids)) != "flat" and self.factor_index().kind != "flat":
            self.factor_index().save(Path(directory), name=INDEX)
            write_atomic(
                Path(directory) / f"{INDEX}.json",
                json.dumps({"kind": self.factor_index().kind, "tuning": self.factor_index().tuning}),
            )

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> Factors:
        model = super().load(directory, config)
        assert isinstance(model, Factors)
        if (Path(directory) / f"{INDEX}s.faiss").exists():
            saved = json.loads((Path(directory) / f"{INDEX}.json").read_text(encoding="utf-8"))
            model.index = ItemIndex.load(Path(directory), saved["kind"], name=INDEX, tuning=saved["tuning"])
        return model


class FactorFold(Folded):
    """A session folded into a factor model: its user vector u; scores are Y·u, read where asked."""

    def __init__(self, u: np.ndarray, factors: np.ndarray, index: ItemIndex) -> None:
        super().__init__(np.zeros(0, np.float32), index.ids)
        self.u, self.factors, self.index = u, factors, index

    def any(self) -> bool:
        return bool(self.u.any())

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return self.index.search(self.u, n, allowed)[0]

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
