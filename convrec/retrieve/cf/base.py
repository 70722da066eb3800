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

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import ConvrecError

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
    x = sp.csr_matrix(
        (np.ones(len(codes), np.float32), (codes, cols[keep])), shape=(len(users), len(position))
    )
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
    def session_matrix(self, sessions: Sequence[Sequence[int]]) -> sp.csr_matrix:
        """Rows of catalogue-row positions -> a binary sessions x items matrix."""
        indptr = np.cumsum([0, *(len(s) for s in sessions)])
        indices = np.concatenate([np.asarray(s, dtype=np.int64) for s in sessions]) if len(sessions) else []
        x = sp.csr_matrix(
            (np.ones(indptr[-1], np.float32), indices, indptr), shape=(len(sessions), len(self.item_ids))
        )
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
            cols = np.empty((len(active), self.neighbors), np.int64)
            for start in range(0, len(active), 1024):  # in blocks: argpartition copies its input
                block = np.abs(b[start : start + 1024])
                cols[start : start + 1024] = np.argpartition(-block, self.neighbors - 1, axis=1)[:, : self.neighbors]
            rows = np.repeat(np.arange(len(active)), self.neighbors)
            cols = cols.ravel()
            vals = b[rows, cols]
        else:
            rows, cols = np.nonzero(b)
            vals = b[rows, cols]
        self.sim = sp.csr_matrix((vals, (active[rows], active[cols])), shape=(n, n), dtype=np.float32)
        self.sim.eliminate_zeros()
        return self


class _Factors(Scorer):
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

    def fit(self, interactions: pd.DataFrame, item_ids: np.ndarray) -> _Factors:
        from threadpoolctl import threadpool_limits

        self._set_items(item_ids)
        x, self.user_ids = interaction_matrix(interactions, self.item_ids, self.min_rating)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit parallelises itself and warns when BLAS would add threads of its own
            warnings.simplefilter("ignore", RuntimeWarning)
            users, items = self._train(x)
        self.user_factors = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(items, dtype=np.float32)
        return self

    def score_many(self, history: sp.csr_matrix) -> np.ndarray:
        y = self.item_factors.astype(np.float64)
        f = y.shape[1]
        if getattr(self, "_gram_of", None) is not self.item_factors:  # YᵀY once per model, not per session
            self._gram, self._gram_of = y.T @ y, self.item_factors
        base = self._gram + self.regularization * np.eye(f)
        users = np.zeros((history.shape[0], f))
        for r in range(history.shape[0]):
            rows = history.indices[history.indptr[r] : history.indptr[r + 1]]
            if not len(rows):
                continue
            yl = y[rows]
            users[r] = np.linalg.solve(base + self.alpha * yl.T @ yl, (1.0 + self.alpha) * yl.sum(axis=0))
        return (users @ y.T).astype(np.float32)

    def _similarity(self, rows: np.ndarray, row: int) -> np.ndarray:
        y = self.item_factors
        norms = np.linalg.norm(y[rows], axis=1) * np.linalg.norm(y[row]) + 1e-9
        return (y[rows] @ y[row]) / norms

    def _arrays(self) -> dict[str, Any]:
        return {"cf_item_factors.npy": self.item_factors}

    def _restore(self, arrays: dict[str, Any]) -> None:
        self.item_factors = arrays["cf_item_factors.npy"].astype(np.float32)


class ALS(_Factors):
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

    def _train(self, x: sp.csr_matrix) -> np.ndarray:
        from implicit.cpu.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, random_state=self.seed,
        )  # fmt: skip
        model.fit(x, show_progress=False)
        return model.user_factors, model.item_factors


class BPR(_Factors):
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

    def _train(self, x: sp.csr_matrix) -> np.ndarray:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
            iterations=self.iterations, random_state=self.seed, num_threads=1,
        )  # fmt: skip  (one thread: implicit's parallel SGD is Hogwild, so not reproducible)
        model.fit(x, show_progress=False)
        return model.user_factors, model.item_factors


SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (Popularity, ItemKNN, EASE, ALS, BPR)
}


def make_cf(settings: Any = None, **params: Any) -> Scorer:
    """The scorer that `settings.cf_model` names (default: item-knn), with its default parameters.

    >>> make_cf(None, neighbors=10)
    ItemKNN(neighbors=10, shrinkage=10.0, min_rating=3.5)
    """
    name = getattr(settings, "cf_model", None) or "item-knn"
    if name not in SCORERS:
        raise UnknownScorer(f"cf_model {name!r} is not a collaborative scorer; use one of {', '.join(SCORERS)}")
    return SCORERS[name](**params)


def load_cf(directory: Path, config: dict[str, Any]) -> Scorer:
    """Open a scorer saved by `save`, dispatching on `config["name"]` (item-knn when absent)."""
    name = config.get("name", "item-knn")
    if name not in SCORERS:
        raise UnknownScorer(f"{directory}: the saved cf model {name!r} is unknown; run `convrec build-index --force`")
    return SCORERS[name].load(Path(directory), config)


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
