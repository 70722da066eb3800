"""Pure score fusion: put each source on a common scale, then take a weighted sum."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convrec.core.types import Candidates


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant column carries no ranking signal and becomes all zeros.

    >>> minmax(np.array([2.0, 4.0, 3.0])).tolist()
    [0.0, 1.0, 0.5]
    >>> minmax(np.array([5.0, 5.0])).tolist()
    [0.0, 0.0]
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-9:
        return np.zeros_like(x)
    return (x - lo) / (hi - lo)


def blend(cands: Candidates, weights: dict[str, float], missing: dict[str, np.ndarray] | None = None) -> Candidates:
    """Add a "blend" column: per item, the weighted mean of the min-max normalised source columns.

    Sources with no signal in this candidate set (e.g. CF for a session with no liked items)
    drop out and the remaining weights are renormalised. `missing[source]` marks the items that
    source knows nothing about (an item nobody has rated yet has no CF or popularity evidence,
    which is not evidence of a zero): their mean is over the sources they have, and the source
    is normalised over the items it knows. Without this, a new item sinks under every item
    with a rating, however well its text matches. Measured by `convrec eval hybrid` (test
    Recall@10, reports/hybrid.json): cold-start targets 0.011 -> 0.267, all test cases 0.344 either
    way; filling the gap with the source's mean instead (measured before the hybrid evaluation
    was split by user) reached 0.039 on cold targets where this reached 0.171.

    >>> c = Candidates(np.array([1, 2]), {"text": np.array([0.9, 0.1]), "cf": np.array([0.0, 0.0])})
    >>> blend(c, {"text": 0.6, "cf": 0.4}).scores["blend"].tolist()
    [1.0, 0.0]
    >>> c = Candidates(np.array([1, 2, 3]), {"text": np.array([0.2, 0.9, 0.1]), "cf": np.array([1.0, 0.0, 0.5])})
    >>> [round(x, 3) for x in blend(c, {"text": 0.5, "cf": 0.5}).scores["blend"].tolist()]
    [0.562, 0.5, 0.25]
    >>> cold = {"cf": np.array([False, True, False])}
    >>> [round(x, 3) for x in blend(c, {"text": 0.5, "cf": 0.5}, cold).scores["blend"].tolist()]
    [0.562, 1.0, 0.0]
    """
    missing = missing or {}
    total = np.zeros(len(cands), np.float64)
    weight = np.zeros(len(cands), np.float64)
    for name, w in weights.items():
        if w <= 0 or name not in cands.scores:
            continue
        has = ~np.asarray(missing[name], bool) if name in missing else np.ones(len(cands), bool)
        normed = minmax(np.asarray(cands.scores[name])[has])
        if not normed.any():
            continue
        total[has] += w * normed
        weight[has] += w
    score = np.where(weight > 0, total / np.maximum(weight, 1e-12), 0.0).astype(np.float32)
    return Candidates(cands.ids, {**cands.scores, "blend": score})


# The share of its blended score an item of an avoided genre ("not too scary") loses. Blended
# scores lie in [0, 1]: such an item falls below its peers, yet a strong match (1.0 -> 0.7) still
# outranks weak ones, and when nothing else fits it is still shown.
AVOID_PENALTY = 0.3


def penalize(cands: Candidates, hit: np.ndarray, share: float = AVOID_PENALTY) -> Candidates:
    """The "blend" column with the `hit` candidates' scores lowered by a fixed `share`: a
    preference against them, never a filter.

    >>> c = Candidates(np.array([1, 2]), {"blend": np.array([1.0, 0.8], np.float32)})
    >>> [round(x, 2) for x in penalize(c, np.array([True, False])).scores["blend"].tolist()]
    [0.7, 0.8]
    """
    score = np.asarray(cands.scores["blend"], np.float32)
    return Candidates(
        cands.ids, {**cands.scores, "blend": np.where(hit, score * (1 - share), score).astype(np.float32)}
    )


def rank_scores(ids: np.ndarray, ranked: Sequence[int]) -> np.ndarray:
    """A ranked list as a score column: 1 for its first item down to 1/len for its last, 0 for the
    candidates it does not hold (the model's proposals, see `convrec.llm.propose`).

    >>> rank_scores(np.array([5, 7, 9]), [9, 5]).tolist()
    [0.5, 0.0, 1.0]
    """
    rank = {item: len(ranked) - r for r, item in enumerate(ranked)}
    return np.array([rank.get(int(i), 0) / max(len(ranked), 1) for i in ids], dtype=np.float32)
