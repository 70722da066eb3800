"""Collaborative scorers behind one interface (`base.Scorer`): popularity, item-kNN, EASE, ALS, BPR and
ALS trained by Spark (`spark-als`), by name. See `convrec.retrieve.cf.base` for how a chat session is folded in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convrec.retrieve.cf.base import (
    LIKED,
    Popularity,
    Scorer,
    UnknownScorer,
    interaction_matrix,
)
from convrec.retrieve.cf.factors import ALS, BPR
from convrec.retrieve.cf.itemitem import EASE, ItemKNN
from convrec.retrieve.cf.spark import SparkALS

__all__ = [
    "ALS", "BPR", "EASE", "LIKED", "SCORERS", "ItemKNN", "Popularity", "Scorer", "SparkALS", "UnknownScorer",
    "interaction_matrix", "load_cf", "make_cf",
]  # fmt: skip

SCORERS: dict[str, type[Scorer]] = {cls.name: cls for cls in (Popularity, ItemKNN, EASE, ALS, BPR, SparkALS)}


def make_cf(settings: Any = None, **params: Any) -> Scorer:
    """The scorer that `settings.cf_model` names (default: item-knn), with its default parameters.

    >>> make_cf(None, neighbors=10)
    ItemKNN(neighbors=10, shrinkage=10.0, min_rating=3.5)
    """
    name = getattr(settings, "cf_model", None) or "item-knn"
    if name not in SCORERS:
        raise UnknownScorer(f"cf_model {name!r} is not a collaborative scorer; use one of {', '.join(SCORERS)}")
    if name == SparkALS.name and getattr(settings, "spark_master", None):
        params.setdefault("master", settings.spark_master)
    return SCORERS[name](**params)


def load_cf(directory: Path, config: dict[str, Any]) -> Scorer:
    """Open a scorer saved by `save`, dispatching on `config["name"]` (item-knn when absent)."""
    name = config.get("name", "item-knn")
    if name not in SCORERS:
        raise UnknownScorer(f"{directory}: the saved cf model {name!r} is unknown; run `convrec build-index --force`")
    return SCORERS[name].load(Path(directory), config)
