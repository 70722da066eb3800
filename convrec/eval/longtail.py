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

import json
from pathlib import Path
from typing import Any

import numpy as np

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
    """Accuracy vs coverage/novelty of both re-rankers on the stratified (or leave-last-out) split."""
    import pandas as pd

    from convrec.eval.cf import DEFAULT_PROTOCOL, make_model, split_for
    from convrec.eval.datasets import load_interactions
    from convrec.eval.metrics import catalog_coverage, novelty, ranking_metrics
    from convrec.retrieve.cf import interaction_matrix

    protocol = DEFAULT_PROTOCOL.get(Path(dataset).name, "leave-last-out")
    df, _ = load_interactions(dataset, data_dir)
    train, test = split_for(protocol, df, "user", seed)
    items = np.sort(train["item_id"].unique())
    scorer = make_model(model, protocol).fit(train, items)
    users = np.sort(np.intersect1d(test["user_id"].unique(), train["user_id"].unique()))
    history, hist_users = interaction_matrix(train, items, scorer.min_rating)
    seen, seen_users = interaction_matrix(train, items, -np.inf)
    scores = scorer.score_many(history[pd.Index(hist_users).get_indexer(users)]).astype(np.float64)
    scores[seen[pd.Index(seen_users).get_indexer(users)].nonzero()] = -np.inf
    pools = np.argsort(-scores, axis=1)[:, :pool]
    counts = np.asarray(interaction_matrix(train, items, -np.inf)[0].sum(axis=0)).ravel()
    # item vectors for MMR: L2-normalised columns of the user x item matrix (co-occurrence cosine)
    cols = seen.T.tocsr().astype(np.float32)
    norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel()) + 1e-9
    truth = {int(u): set(g.tolist()) for u, g in test.groupby("user_id")["item_id"]}
    per_item = train.groupby("item_id").size().to_dict()
    n_train = len(train)

    def measure(rank_fn) -> dict[str, float]:
        recs = {}
        for row, user in enumerate(users):
            cand = pools[row]
            order = rank_fn(row, cand)
            recs[int(user)] = items[cand[order][:k]].tolist()
        m = ranking_metrics(recs, truth, k)
        return {
            f"ndcg@{k}": round(m[f"ndcg@{k}"], 4),
            f"recall@{k}": round(m[f"recall@{k}"], 4),
            "coverage": round(catalog_coverage(list(recs.values()), len(items)), 4),
            "novelty": round(novelty(list(recs.values()), per_item, n_train), 4),
        }

    penalty = []
    for beta in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0):
        fn = lambda row, cand, b=beta: np.argsort(
            -popularity_penalty(scores[row, cand], counts[cand], b), kind="stable"
        )
        penalty.append({"beta": beta, **measure(fn)})
    diversity = []
    for lam in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):

        def fn(row, cand, lam=lam):
            v = cols[cand].toarray() / norms[cand, None]
            return mmr(scores[row, cand], v, lam, k)

        diversity.append({"lambda": lam, **measure(fn)})
    result = {
        "dataset": str(dataset),
        "protocol": protocol,
        "model": scorer.config(),
        "pool": pool,
        "k": k,
        "popularity_penalty": penalty,
        "mmr": diversity,
    }
    base = penalty[0]
    pick = max((p for p in penalty if p[f"ndcg@{k}"] >= 0.95 * base[f"ndcg@{k}"]), key=lambda p: p["coverage"])
    result["summary"] = {
        "baseline": base,
        "popularity_penalty_within_5pct_ndcg": pick,
        "mmr": diversity,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "longtail.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        _plot(result, out_dir / "longtail_tradeoff.png", k)
    return result


def _plot(result: dict[str, Any], path: Path, k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(path, dpi=110)
    plt.close(fig)
