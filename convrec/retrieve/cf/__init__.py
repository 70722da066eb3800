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
    "choose_cf", "interaction_matrix", "load_cf", "make_cf",
]  # fmt: skip

SCORERS: dict[str, type[Scorer]] = {cls.name: cls for cls in (Popularity, ItemKNN, EASE, ALS, BPR, SparkALS)}


# Up to how many items each scorer is chosen by `choose_cf` (see its docstring for the measurements).
EASE_MAX_ITEMS = 12_000
ITEM_KNN_MAX_ITEMS = 30_000


def choose_cf(n_items: int) -> str:
    """The collaborative scorer for a catalogue of `n_items`, when the settings say "auto".

    EASE ranks best for chat sessions (reports/cf_eval.md) but inverts a dense items x items
    matrix (time n³, memory n²); item-kNN scores a block of items against all items, so its fit
    grows with n²; ALS (`implicit`) grows with the interactions. Measured by `convrec bench scale`
    on Zipf interactions (reports/bench_scale.json, two cores shared with other jobs): at 10k items
    (27.5k interactions) EASE fit in 102 s at a 2.0 GB peak, item-kNN in 13 s at 1.1 GB, ALS in
    2.6 s at 0.8 GB (the process holds 0.8 GB before); ALS took 12 s on 100k items (277k
    interactions) and 25 s on 1M (2.8M). So EASE while it costs at most ~3 min and 2 GB more
    (12k items), item-kNN while n² keeps it near that (30k: ~9x its 10k cost), then ALS.

    >>> choose_cf(9_000), choose_cf(20_000), choose_cf(1_000_000)
    ('ease', 'item-knn', 'als')
    """
    if n_items <= EASE_MAX_ITEMS:
        return "ease"
    return "item-knn" if n_items <= ITEM_KNN_MAX_ITEMS else "als"


def make_cf(settings: Any = None, n_items: int = 0, **params: Any) -> Scorer:
    """The scorer that `settings.cf_model` names (default: item-knn), with its default parameters;
    "auto" is `choose_cf(n_items)`.

    >>> make_cf(None, neighbors=10)
    ItemKNN(neighbors=10, shrinkage=10.0, min_rating=3.5)
    >>> type(make_cf(type("S", (), {"cf_model": "auto"})(), n_items=1_000_000)).__name__
    'ALS'
    """
    name = getattr(settings, "cf_model", None) or "item-knn"
    if name == "auto":
        name = choose_cf(n_items)
    if name not in SCORERS:
        raise UnknownScorer(f"cf_model {name!r} is not a collaborative scorer; use auto or one of {', '.join(SCORERS)}")
    if name == SparkALS.name and getattr(settings, "spark_master", None):
        params.setdefault("master", settings.spark_master)
    return SCORERS[name](**params)


def load_cf(directory: Path, config: dict[str, Any]) -> Scorer:
    """Open a scorer saved by `save`, dispatching on `config["name"]` (item-knn when absent)."""
    name = config.get("name", "item-knn")
    if name not in SCORERS:
        raise UnknownScorer(f"{directory}: the saved cf model {name!r} is unknown; run `convrec build-index --force`")
    return SCORERS[name].load(Path(directory), config)
