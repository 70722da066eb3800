"""Ranking metrics for one user, as microsoft/recommenders defines them: `ranked` is the recommended
list, best first; `relevant` the held-out truth. Also novelty and catalogue coverage over many lists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

K = 10
# --------------------------------------------------------------------------------------------
# Metrics for one user: `ranked` is the recommended list, best first; `relevant` the truth.


def precision_at_k(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Hits in the top k over k (a list shorter than k is not excused).

    >>> precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=4)
    0.5
    """
    return sum(1 for i in list(ranked)[:k] if i in relevant) / k


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Hits in the top k over the number of relevant items.

    >>> recall_at_k([1, 2, 3, 4], {2, 4, 9}, k=4)
    0.6666666666666666
    """
    return sum(1 for i in list(ranked)[:k] if i in relevant) / len(relevant) if relevant else 0.0


def f1(precision: float, recall: float) -> float:
    """Harmonic mean (0 when both are 0).

    >>> f1(0.5, 0.25)
    0.3333333333333333
    """
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Binary-relevance nDCG: sum of 1/log(1+rank) over hits, over the same for an ideal list.

    The ideal list puts min(k, |relevant|) hits first (recommenders' `ndcg_at_k`, score_type
    "binary"; the log base cancels). Hits at ranks 2 and 4 of 3 relevant items:

    >>> round(ndcg_at_k([1, 2, 3, 4], {2, 4, 9}, k=4), 4)
    0.4982
    """
    dcg = sum(1.0 / math.log(1 + r) for r, i in enumerate(list(ranked)[:k], start=1) if i in relevant)
    idcg = sum(1.0 / math.log(1 + r) for r in range(1, min(k, len(relevant)) + 1))
    return dcg / idcg if idcg > 0 else 0.0


def average_precision_at_k(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    """Mean of precision at each hit's rank, over min(k, |relevant|) (recommenders' `map_at_k`).

    Hits at ranks 2 and 4, three relevant items: (1/2 + 2/4) / 3.

    >>> average_precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=4)
    0.3333333333333333
    """
    hits, total = 0, 0.0
    for r, i in enumerate(list(ranked)[:k], start=1):
        if i in relevant:
            hits += 1
            total += hits / r
    return total / min(k, len(relevant)) if relevant else 0.0


def hit_at_k(ranked: Sequence[int], relevant: set[int], k: int = K) -> float:
    """1 when any relevant item is in the top k.

    >>> hit_at_k([1, 2, 3], {3}, k=2), hit_at_k([1, 2, 3], {3}, k=3)
    (0.0, 1.0)
    """
    return 1.0 if any(i in relevant for i in list(ranked)[:k]) else 0.0


def novelty(recommended: Sequence[Sequence[int]], train_counts: dict[int, int], n_train: int) -> float:
    """Mean self-information -log2(item's training interactions / all training interactions).

    recommenders' `novelty` (Castells et al.'s choice model), averaged over every recommended
    (user, item) pair: an item with a quarter of all interactions is worth 2 bits.

    >>> novelty([[1, 2]], {1: 4, 2: 1}, n_train=4)
    1.0
    """
    bits = [-math.log2(train_counts[i] / n_train) for recs in recommended for i in recs if train_counts.get(i)]
    return float(np.mean(bits)) if bits else 0.0


def catalog_coverage(recommended: Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the candidate items recommended to anyone.

    >>> catalog_coverage([[1, 2], [2, 3]], n_items=6)
    0.5
    """
    return len({i for recs in recommended for i in recs}) / n_items if n_items else 0.0


def ranking_metrics(
    recommended: Mapping[int, Sequence[int]], truth: Mapping[int, set[int]], k: int = K
) -> dict[str, float]:
    """Means over the users present in both `recommended` and `truth` (recommenders' convention)."""
    users = [u for u in truth if u in recommended and truth[u]]
    per = {
        "ndcg": [ndcg_at_k(recommended[u], truth[u], k) for u in users],
        "precision": [precision_at_k(recommended[u], truth[u], k) for u in users],
        "recall": [recall_at_k(recommended[u], truth[u], k) for u in users],
        "map": [average_precision_at_k(recommended[u], truth[u], k) for u in users],
        "hit": [hit_at_k(recommended[u], truth[u], k) for u in users],
    }
    out = {f"{name}@{k}": float(np.mean(v)) if v else 0.0 for name, v in per.items()}
    out[f"f1@{k}"] = f1(out[f"precision@{k}"], out[f"recall@{k}"])
    out[f"ndcg@{k}_se"] = float(np.std(per["ndcg"], ddof=1) / math.sqrt(len(users))) if len(users) > 1 else 0.0
    out["users"] = len(users)
    return out
