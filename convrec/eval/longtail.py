"""Optional long-tail re-ranking of a scored candidate list, and `convrec eval longtail`.

Two re-rankers, both pure functions over (candidate scores, item facts):
  - `popularity_penalty`: min-max score minus beta x min-max log-popularity; beta = 0 is the
    input order, larger beta pushes well-known items down.
  - `mmr`: maximal marginal relevance (Carbonell & Goldstein 1998); each pick maximises
    lam x relevance - (1 - lam) x its highest similarity to the items already picked.

Either can sit after the blend in the pipeline (e.g. `Settings.diversity`), trading a little
accuracy for catalogue coverage and novelty; `run_longtail` measures that trade-off. Items with
no interactions never come from the collaborative side; they reach a user through text
retrieval (see `evaluate_hybrid`'s cold-start check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.files import write_json
from convrec.eval.plots import pyplot, save
from convrec.retrieve.blend import minmax


def popularity_penalty(scores: np.ndarray, popularity: np.ndarray, beta: float) -> np.ndarray:
    """Re-scored candidates: minmax(scores) - beta * minmax(log1p(popularity)).

    >>> popularity_penalty(np.array([1.0, 0.9, 0.0]), np.array([1000.0, 10.0, 10.0]), beta=0.5).astype(float).round(2).tolist()
    [0.5, 0.9, 0.0]
    """
    return minmax(scores) - beta * minmax(np.log1p(np.asarray(popularity, dtype=np.float32)))


def mmr(scores: np.ndarray, vectors: np.ndarray, lam: float, k: int) -> np.ndarray:
    """Positions of k candidates picked greedily by maximal marginal relevance.

    `vectors` are L2-normalised item vectors (similarity = dot product); lam = 1 is plain
    score order. Two near-duplicates and one different item, lam = 0.5:

    >>> v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> mmr(np.array([1.0, 0.95, 0.6]), v, lam=0.5, k=2).tolist()
    [0, 2]
    """
    rel = minmax(scores).astype(np.float64)
    k = min(k, len(rel))
    picked: list[int] = []
    max_sim = np.full(len(rel), -np.inf)
    for _ in range(k):
        value = lam * rel - (1 - lam) * np.where(np.isfinite(max_sim), max_sim, 0.0)
        value[picked] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return np.array(picked, dtype=np.int64)


BETAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
LAMBDAS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def choose_beta(rows: list[dict[str, Any]], k: int = 10, keep: float = 0.95) -> float:
    """The penalty with the widest coverage among those keeping `keep` of beta 0's nDCG@k.

    >>> rows = [{"beta": 0.0, "ndcg@10": 0.4, "coverage": 0.1}, {"beta": 0.5, "ndcg@10": 0.39, "coverage": 0.3},
    ...         {"beta": 1.0, "ndcg@10": 0.2, "coverage": 0.6}]
    >>> choose_beta(rows)
    0.5
    """
    base = next(r for r in rows if r["beta"] == 0.0)[f"ndcg@{k}"]
    return max((r for r in rows if r[f"ndcg@{k}"] >= keep * base), key=lambda r: r["coverage"])["beta"]


class Pools:
    """Each user's top `pool` candidates from a scorer fit on `train`, re-ranked to k and
    measured against `test` (nDCG, recall, coverage, novelty)."""

    def __init__(self, train, test, model: str, protocol: str, pool: int = 100, k: int = 10) -> None:
        import pandas as pd

        from convrec.eval.cf import make_model
        from convrec.retrieve.cf import interaction_matrix

        self.k = k
        self.items = np.sort(train["item_id"].unique())
        self.scorer = make_model(model, protocol).fit(train, self.items)
        self.users = np.sort(np.intersect1d(test["user_id"].unique(), train["user_id"].unique()))
        history, hist_users = interaction_matrix(train, self.items, self.scorer.min_rating)
        seen, seen_users = interaction_matrix(train, self.items, -np.inf)
        scores = self.scorer.score_many(history[pd.Index(hist_users).get_indexer(self.users)]).astype(np.float64)
        scores[seen[pd.Index(seen_users).get_indexer(self.users)].nonzero()] = -np.inf
        self.scores = scores
        self.pools = np.argsort(-scores, axis=1)[:, :pool]
        self.counts = np.asarray(seen.sum(axis=0)).ravel()
        # item vectors for MMR: L2-normalised columns of the user x item matrix (co-occurrence cosine)
        self.cols = seen.T.tocsr().astype(np.float32)
        self.norms = np.sqrt(np.asarray(self.cols.multiply(self.cols).sum(axis=1)).ravel()) + 1e-9
        self.truth = {int(u): set(g.tolist()) for u, g in test.groupby("user_id")["item_id"]}
        self.per_item = train.groupby("item_id").size().to_dict()
        self.n_train = len(train)

    def measure(self, rank_fn) -> dict[str, float]:
        """Metrics of the lists `rank_fn(row, pool)` makes (positions into the pool, best first)."""
        from convrec.eval.metrics import catalog_coverage, novelty, ranking_metrics

        k = self.k
        recs = {
            int(user): self.items[self.pools[row][rank_fn(row, self.pools[row])]][:k].tolist()
            for row, user in enumerate(self.users)
        }
        m = ranking_metrics(recs, self.truth, k)
        return {
            f"ndcg@{k}": round(m[f"ndcg@{k}"], 4),
            f"recall@{k}": round(m[f"recall@{k}"], 4),
            "coverage": round(catalog_coverage(list(recs.values()), len(self.items)), 4),
            "novelty": round(novelty(list(recs.values()), self.per_item, self.n_train), 4),
        }

    def penalty(self, betas=BETAS) -> list[dict[str, float]]:
        """One row per beta of `popularity_penalty`."""
        rows = []
        for beta in betas:
            fn = lambda row, cand, b=beta: np.argsort(
                -popularity_penalty(self.scores[row, cand], self.counts[cand], b), kind="stable"
            )
            rows.append({"beta": beta, **self.measure(fn)})
        return rows

    def mmr(self, lams=LAMBDAS) -> list[dict[str, float]]:
        """One row per lambda of `mmr`."""
        rows = []
        for lam in lams:

            def fn(row, cand, lam=lam):
                v = self.cols[cand].toarray() / self.norms[cand, None]
                return mmr(self.scores[row, cand], v, lam, self.k)

            rows.append({"lambda": lam, **self.measure(fn)})
        return rows


def run_longtail(
    dataset: str = "ml-100k",
    *,
    data_dir: Path | None = None,
    seed: int = 42,
    out_dir: Path | None = Path("reports"),
    model: str = "ease",
    pool: int = 100,
    k: int = 10,
) -> dict[str, Any]:
    """Accuracy vs coverage/novelty of both re-rankers on the stratified (or leave-last-out) split.

    The penalty to recommend is chosen on a validation split carved from the training data by the
    same splitter (`choose_beta`), then reported with its test numbers; the full test sweep
    describes the trade-off and chooses nothing.
    """
    from convrec.eval import datasets
    from convrec.eval.cf import DEFAULT_PROTOCOL, make_model, split_for

    protocol = DEFAULT_PROTOCOL.get(Path(dataset).name, "leave-last-out")
    df, _ = datasets.load_interactions(dataset, data_dir)
    train, test = split_for(protocol, df, "user", seed)
    inner_train, inner_val = split_for(protocol, train, "user", seed)
    val_penalty = Pools(inner_train, inner_val, model, protocol, pool, k).penalty()
    pools = Pools(train, test, model, protocol, pool, k)
    penalty, diversity = pools.penalty(), pools.mmr()
    beta = choose_beta(val_penalty, k)
    result = {
        "dataset": str(dataset),
        "protocol": protocol,
        "model": make_model(model, protocol).config(),
        "pool": pool,
        "k": k,
        "popularity_penalty": penalty,
        "mmr": diversity,
        "validation": {"popularity_penalty": val_penalty},
    }
    result["summary"] = {
        "baseline": penalty[0],
        "popularity_penalty_chosen_on_validation": {
            "rule": "widest coverage within 5% of beta 0's validation nDCG",
            "beta": beta,
            "validation": next(r for r in val_penalty if r["beta"] == beta),
            "test": next(r for r in penalty if r["beta"] == beta),
        },
        "mmr": diversity,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "longtail.json", result)
        _plot(result, out_dir / "longtail_tradeoff.png", k)
    return result


def _plot(result: dict[str, Any], path: Path, k: int) -> None:
    plt = pyplot()

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for rows, label, key in (
        (result["popularity_penalty"], "popularity penalty (beta)", "beta"),
        (result["mmr"], "MMR (lambda)", "lambda"),
    ):
        x = [r["coverage"] for r in rows]
        y = [r[f"ndcg@{k}"] for r in rows]
        a.plot(x, y, "o-", label=label)
        for r, xi, yi in zip(rows, x, y):
            a.annotate(f"{r[key]}", (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        b.plot([r["novelty"] for r in rows], y, "o-", label=label)
    a.set_xlabel("catalogue coverage of the top 10")
    a.set_ylabel(f"nDCG@{k}")
    a.set_title(f"{result['dataset']}: accuracy vs coverage")
    b.set_xlabel("novelty (mean -log2 share of training interactions, bits)")
    b.set_ylabel(f"nDCG@{k}")
    b.set_title("accuracy vs novelty")
    a.legend()
    b.legend()
    fig.tight_layout()
    save(fig, path)
