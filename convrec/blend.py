"""Pure score fusion: put each source on a common scale, then take a weighted sum."""

from __future__ import annotations

import numpy as np

from .types import Candidates


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


def blend(cands: Candidates, weights: dict[str, float]) -> Candidates:
    """Add a "blend" column: the weighted sum of min-max normalised source columns.

    Sources with no signal in this candidate set (e.g. CF for a session with no liked
    items) get weight 0, and the remaining weights are renormalised to sum to 1.

    >>> c = Candidates(np.array([1, 2]), {"text": np.array([0.9, 0.1]), "cf": np.array([0.0, 0.0])})
    >>> blend(c, {"text": 0.6, "cf": 0.4}).scores["blend"].tolist()
    [1.0, 0.0]
    """
    normed = {k: minmax(cands.scores[k]) for k in weights if k in cands.scores}
    active = {k: w for k, w in weights.items() if k in normed and w > 0 and normed[k].any()}
    total = sum(active.values())
    score = np.zeros(len(cands), np.float32)
    for k, w in active.items():
        score += (w / total) * normed[k]
    return Candidates(cands.ids, {**cands.scores, "blend": score})
