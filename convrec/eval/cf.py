"""Offline evaluation of the collaborative scorers: metrics, splits, protocols, `convrec eval cf`.

Protocols (all rank every candidate item for a user, never a sampled subset):
  - "stratified": microsoft/recommenders' ML-100k benchmark. `python_stratified_split` with
    ratio 0.75 and seed 42 (`stratified_split` below reproduces it draw for draw), every rating
    an interaction, candidates = the items of the training set, items a user saw in training
    removed, k = 10, their ranking-metric definitions (`precision_at_k` ... `map_at_k`).
  - "leave-last-out": each user's latest interaction is the test item; Hit@10 and nDCG@10.
  - "chat": the cold-start case a chat session is. 20% of users are test users and 20% more
    validate; a held-out user names 1-3 random liked items (the session) and another liked item
    is the target. Picks the scorer the pipeline uses by default.

Choices are made on a validation split carved from the training data only, never on test: the
best model always, hyper-parameters with `--tune` (the presets below are its result, so a plain
run is fast and deterministic).

Left out on purpose: rating-prediction metrics (RMSE), sampled-negative metrics (they
inflate numbers and rank models differently), and significance tests beyond a bootstrap-free
standard error.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from convrec.eval.datasets import load_interactions
from convrec.eval.metrics import K, catalog_coverage, novelty, ranking_metrics
from convrec.eval.plots import pyplot, save
from convrec.eval.splits import SEED, leave_last_out, stratified_split
from convrec.retrieve.cf import (
    ALS,
    BPR,
    EASE,
    ItemKNN,
    Popularity,
    Scorer,
    SparkALS,
    interaction_matrix,
)

log = logging.getLogger(__name__)

CHAT_CASES_PER_USER = 20
DEFAULT_PROTOCOL = {"ml-100k": "stratified", "ml-latest-small": "leave-last-out"}


# --------------------------------------------------------------------------------------------
# Scoring users


def recommend(
    scorer: Scorer, train: pd.DataFrame, users: np.ndarray, k: int = K, batch: int = 256, trained_users: bool = True
) -> dict[int, list[int]]:
    """Top-k item ids for each known user, seen items removed.

    A user is their training likes folded in, except for factor models with `trained_users`,
    which use the user factors learnt in training (BPR's are not least-squares optimal, so a
    fold-in would understate it). Candidates are the scorer's items (fit it on the training
    items). Everything the user interacted with in training is excluded, whatever its rating.
    """
    history, history_users = interaction_matrix(train, scorer.item_ids, scorer.min_rating)
    seen, seen_users = interaction_matrix(train, scorer.item_ids, -np.inf)
    hrow = pd.Index(history_users).get_indexer(users)
    srow = pd.Index(seen_users).get_indexer(users)
    empty = sp.csr_matrix((1, len(scorer.item_ids)), dtype=np.float32)
    out: dict[int, list[int]] = {}
    for start in range(0, len(users), batch):
        chunk = slice(start, start + batch)
        h = sp.vstack([history[r] if r >= 0 else empty for r in hrow[chunk]]).tocsr()
        s = sp.vstack([seen[r] if r >= 0 else empty for r in srow[chunk]]).tocsr()
        known = getattr(scorer, "score_users", lambda _: None)(users[chunk]) if trained_users else None
        scores = (known if known is not None else scorer.score_many(h)).astype(np.float64)
        scores[s.nonzero()] = -np.inf
        n = min(k, scores.shape[1])
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        for row, user in enumerate(users[chunk]):
            cand = top[row]
            cand = cand[np.argsort(-scores[row, cand], kind="stable")]
            cand = cand[np.isfinite(scores[row, cand])]
            out[int(user)] = scorer.item_ids[cand].tolist()
    return out


def evaluate(scorer: Scorer, train: pd.DataFrame, test: pd.DataFrame, k: int = K) -> dict[str, Any]:
    """Fit on `train` (candidates = its items), rank for every test user, return the metrics."""
    items = np.sort(train["item_id"].unique())
    started = time.perf_counter()
    scorer.fit(train, items)
    fit_s = time.perf_counter() - started
    users = np.sort(np.intersect1d(test["user_id"].unique(), train["user_id"].unique()))
    started = time.perf_counter()
    recs = recommend(scorer, train, users, k)
    rec_s = time.perf_counter() - started
    truth = {int(u): set(g.tolist()) for u, g in test.groupby("user_id")["item_id"]}
    out = ranking_metrics(recs, truth, k)
    out["coverage"] = catalog_coverage(list(recs.values()), len(items))
    out["novelty"] = novelty(list(recs.values()), train.groupby("item_id").size().to_dict(), len(train))
    out["fit_s"] = round(fit_s, 2)
    out["recommend_s"] = round(rec_s, 2)
    return out


# --------------------------------------------------------------------------------------------
# Models and their tuned presets

Factory = Callable[..., Scorer]
MODELS: dict[str, Factory] = {
    "popularity": Popularity, "item-knn": ItemKNN, "ease": EASE, "als": ALS, "bpr": BPR, "spark-als": SparkALS,
}  # fmt: skip
# Left out of `--models all`: they need an engine besides Python (Spark and a JVM); name them to run them.
ENGINE_MODELS = ("spark-als",)

# Validation grids (`--tune`): every combination is fit on the inner training split.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {},
    "item-knn": {"neighbors": [20, 50, 100, 200], "shrinkage": [0.0, 10.0, 50.0]},
    "ease": {"l2": [200.0, 400.0, 800.0], "dropout": [0.0, 0.25, 0.5]},
    "als": {"factors": [32, 64, 128], "regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 5.0, 20.0]},
    "bpr": {"factors": [64, 200], "learning_rate": [0.01, 0.05], "iterations": [100, 300]},
    "spark-als": {"regularization": [0.01, 0.05, 0.1], "alpha": [1.0, 5.0, 20.0]},
}

# The result of `--tune` per protocol (see reports/cf_eval.md); min_rating is part of the protocol.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "stratified": {  # tuned on ml-100k, per-user stratified split of the training data
        "popularity": {},
        "item-knn": {"neighbors": 20, "shrinkage": 10.0},
        "ease": {"l2": 400.0, "dropout": 0.25, "neighbors": None},
        "als": {"factors": 32, "regularization": 0.01, "alpha": 5.0},
        "bpr": {"factors": 200, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    },
    # not re-tuned on ml-latest-small (one held-out item per user makes validation noisy and
    # the EASE grid costs minutes per fit on 9.7k items); the ml-100k choices carry over
    "leave-last-out": {},
    "chat": {  # the scorers as `convrec build-index` saves them (EASE cut to 200 weights per item)
        "popularity": {},
        "item-knn": {"neighbors": 50, "shrinkage": 10.0},
        "ease": {"l2": 400.0, "dropout": 0.5, "neighbors": 200},
        "als": {"factors": 32, "regularization": 1.0, "alpha": 5.0},
        "bpr": {"factors": 200, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    },
}
PRESETS["leave-last-out"] = dict(PRESETS["stratified"])
# Which interactions are positive under each protocol: the stratified and leave-last-out
# benchmarks count every rating; a chat session names films the person *liked*.
MIN_RATING = {"stratified": 0.0, "leave-last-out": 0.0, "chat": 3.5}


def make_model(name: str, protocol: str, **overrides: Any) -> Scorer:
    params = {**PRESETS[protocol].get(name, {}), **overrides, "min_rating": MIN_RATING[protocol]}
    return MODELS[name](**params)


def _grid(name: str) -> list[dict[str, Any]]:
    grid = GRIDS[name]
    combos: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        combos = [{**c, key: v} for c in combos for v in values]
    return combos


# --------------------------------------------------------------------------------------------
# Protocols


def chat_cases(
    df: pd.DataFrame, users: np.ndarray, seed: int = SEED, per_user: int = 5, liked: float = 4.0
) -> list[tuple[int, list[int], int]]:
    """(user, session of 1-3 liked items, held-out liked target) for each of `users`.

    >>> df = pd.DataFrame({"user_id": [1] * 6, "item_id": range(6), "rating": [5.0] * 6})
    >>> cases = chat_cases(df, np.array([1]), per_user=2)
    >>> all(1 <= len(s) <= 3 and t not in s for _, s, t in cases), len(cases)
    (True, 2)
    """
    rng = np.random.default_rng(seed)
    likes = df[df["rating"] >= liked].groupby("user_id")["item_id"].apply(lambda s: s.unique())
    cases = []
    for user in users:
        items = likes.get(user)
        if items is None or len(items) < 4:
            continue
        targets = rng.choice(items, size=min(per_user, len(items)), replace=False)
        for target in targets:
            rest = items[items != target]
            size = int(rng.integers(1, 4))
            cases.append((int(user), rng.choice(rest, size=size, replace=False).tolist(), int(target)))
    return cases


def evaluate_chat(
    scorer: Scorer, train: pd.DataFrame, cases: list[tuple[int, list[int], int]], items: np.ndarray, k: int = K
) -> dict[str, Any]:
    """Fit on the training users, then fold in each session and rank the catalogue without its items.

    Also reports the scorer as the pipeline uses it: min-max CF blended 3:1 with min-max
    log-popularity (the default w_cf 0.3 : w_pop 0.1), under the keys ending in "+pop".
    """
    started = time.perf_counter()
    scorer.fit(train, items)
    fit_s = time.perf_counter() - started
    counts = np.bincount(pd.Index(items).get_indexer(train["item_id"]), minlength=len(items))
    pop = minmax_np(np.log1p(counts.astype(np.float64)))
    recs, blended, truth = {}, {}, {}
    for n, (_, session, target) in enumerate(cases):
        scores = scorer.score(session).astype(np.float64)
        mix = 0.75 * minmax_np(scores) + 0.25 * pop
        rows = scorer.positions(session)
        scores[rows] = -np.inf
        mix[rows] = -np.inf
        recs[n] = scorer.item_ids[np.argsort(-scores, kind="stable")[:k]].tolist()
        blended[n] = scorer.item_ids[np.argsort(-mix, kind="stable")[:k]].tolist()
        truth[n] = {target}
    out = ranking_metrics(recs, truth, k)
    out["coverage"] = catalog_coverage(list(recs.values()), len(items))
    out["novelty"] = novelty(list(recs.values()), train.groupby("item_id").size().to_dict(), len(train))
    mixed = ranking_metrics(blended, truth, k)
    for key in (f"ndcg@{k}", f"hit@{k}", f"ndcg@{k}_se"):
        out[f"{key}+pop"] = mixed[key]
    out["coverage+pop"] = catalog_coverage(list(blended.values()), len(items))
    out["fit_s"] = round(fit_s, 2)
    return out


def minmax_np(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] (all zeros when constant).

    >>> minmax_np(np.array([1.0, 3.0])).tolist()
    [0.0, 1.0]
    """
    lo, hi = float(np.min(x)), float(np.max(x))
    return (x - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(x)


def split_for(
    protocol: str, df: pd.DataFrame, stratify: str = "user", seed: int = SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if protocol == "stratified":
        return stratified_split(df, 0.75, by=stratify, seed=seed)
    if protocol == "leave-last-out":
        return leave_last_out(df)
    raise ValueError(f"unknown protocol {protocol!r}")


def run_protocol(
    dataset: str,
    protocol: str,
    models: Sequence[str],
    *,
    stratify: str = "user",
    seed: int = SEED,
    tune: bool = False,
    data_dir: Path | None = None,
    k: int = K,
) -> dict[str, Any]:
    """Evaluate `models` under `protocol`, and name the best one.

    The best model (and with `tune`, each model's parameters) is chosen on a validation split
    carved from the training data only: the training rows split again by the same splitter, or
    (chat) another 20% of users held out of training. Every model is then refit on the whole
    training data and measured once on test; `best` is never read off the test numbers.
    """
    df, _ = load_interactions(dataset, data_dir)
    results: dict[str, Any] = {}
    tuned: dict[str, Any] = {}
    if protocol == "chat":
        # 20% of users are test users, another 20% validate; the scorer scored on test trains on
        # every non-test user, the ones scored on validation on the other 60%
        users = np.random.default_rng(seed).permutation(np.sort(df["user_id"].unique()))
        n = len(users)
        test_users, val_users = users[: n // 5], users[n // 5 : 2 * n // 5]
        train = df[~df["user_id"].isin(test_users)]
        inner = train[~train["user_id"].isin(val_users)]
        items = np.sort(df["item_id"].unique())
        test_cases = chat_cases(df, test_users, seed, per_user=CHAT_CASES_PER_USER)
        val_cases = chat_cases(df, val_users, seed + 1, per_user=CHAT_CASES_PER_USER)
        for name in models:
            params, val = _choose(
                name, protocol, lambda m: evaluate_chat(m, inner, val_cases, items, k), tune, tuned, k
            )
            model = make_model(name, protocol, **params)
            results[name] = {**evaluate_chat(model, train, test_cases, items, k), "params": model.config()}
            results[name]["validation"] = {key: val[key] for key in (f"ndcg@{k}", f"ndcg@{k}+pop")}
        split_info = {
            "train_users": int(train["user_id"].nunique()),
            "validation_train_users": int(inner["user_id"].nunique()),
            "test_cases": len(test_cases),
            "val_cases": len(val_cases),
        }
        # the pipeline's CF slot: the best personalised scorer next to popularity
        key = f"ndcg@{k}+pop"
        personal = [m for m in results if m != "popularity"] or list(results)
        best = max(personal, key=lambda m: results[m]["validation"][key])
    else:
        train, test = split_for(protocol, df, stratify, seed)
        inner_train, inner_val = split_for(protocol, train, stratify, seed)
        for name in models:
            params, val = _choose(name, protocol, lambda m: evaluate(m, inner_train, inner_val, k), tune, tuned, k)
            model = make_model(name, protocol, **params)
            results[name] = {**evaluate(model, train, test, k), "params": model.config()}
            results[name]["validation"] = {f"ndcg@{k}": val[f"ndcg@{k}"]}
        split_info = {
            "train_rows": len(train),
            "test_rows": len(test),
            "test_users": int(test["user_id"].nunique()),
            "validation_rows": len(inner_val),
        }
        key = f"ndcg@{k}"
        best = max(results, key=lambda m: results[m]["validation"][key])
    return {
        "dataset": dataset,
        "protocol": protocol,
        **({"stratify": stratify} if protocol == "stratified" else {}),
        "seed": seed,
        "k": k,
        "interactions": len(df),
        "split": split_info,
        "best": best,
        "best_chosen_by": f"validation {key}",
        "models": results,
        "tuning": tuned,
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
    }


def _choose(
    name: str, protocol: str, measure: Callable[[Scorer], dict[str, Any]], tune: bool, log_to: dict, k: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters, their validation metrics): the preset, or with `tune` the grid point with the
    best validation nDCG@k (every point is logged into `log_to[name]`)."""
    scored = []
    for params in _grid(name) if tune else [{}]:
        m = measure(make_model(name, protocol, **params))
        scored.append((m, params))
        log.info("validate %s %s: ndcg@%d %.4f", name, params, k, m[f"ndcg@{k}"])
    if tune:
        log_to[name] = [{"params": p, f"val_ndcg@{k}": round(m[f"ndcg@{k}"], 4)} for m, p in scored]
    best, params = max(scored, key=lambda s: s[0][f"ndcg@{k}"])
    return params, best


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The one-line JSON of `convrec eval cf --json`: the best model's headline metrics."""
    k = result["k"]
    m = result["models"][result["best"]]
    keys = ["ndcg", "precision", "recall", "f1", "map", "hit"]
    return {
        "model": result["best"],
        **{f"{key}@{k}": round(m[f"{key}@{k}"], 4) for key in keys},
        "coverage": round(m["coverage"], 4),
        "novelty": round(m["novelty"], 4),
        "dataset": result["dataset"],
        "protocol": result["protocol"] + (f" ({result['stratify']})" if "stratify" in result else ""),
        "seed": result["seed"],
    }


def table(result: dict[str, Any]) -> str:
    k = result["k"]
    cols = ["ndcg", "precision", "recall", "f1", "map", "hit"]
    head = (
        f"{'model':<12}"
        + "".join(f"{c + '@' + str(k):>13}" for c in cols)
        + f"{'coverage':>10}{'novelty':>9}{'fit s':>8}"
    )
    chat = result["protocol"] == "chat"
    val_key = result["best_chosen_by"].removeprefix("validation ")  # what chose the best model
    lines = [head + (f"{'ndcg+pop':>10}{'hit+pop':>9}" if chat else "") + f"{'val ' + val_key:>18}"]
    for name, m in result["models"].items():
        lines.append(
            f"{name:<12}"
            + "".join(f"{m[f'{c}@{k}']:>13.4f}" for c in cols)
            + f"{m['coverage']:>10.3f}{m['novelty']:>9.2f}{m['fit_s']:>8.1f}"
            + (f"{m[f'ndcg@{k}+pop']:>10.4f}{m[f'hit@{k}+pop']:>9.4f}" if chat else "")
            + f"{m['validation'][val_key]:>18.4f}"
        )
    return "\n".join(lines)


# microsoft/recommenders' README table for ML-100k (k = 10): the published anchors.
ANCHORS = {"BiVAE": (0.475, 0.412, 0.219), "BPR (cornac)": (0.442, 0.388, 0.213), "SAR": (0.382, 0.331, 0.176)}


def plot_cf(result: dict[str, Any], path: Path) -> None:
    """Bars of nDCG / precision / recall @k per model; the published anchors for ML-100k."""
    plt = pyplot()

    k = result["k"]
    names = list(result["models"])
    metrics = [f"ndcg@{k}", f"precision@{k}", f"recall@{k}"]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(metrics)
    for j, metric in enumerate(metrics):
        vals = [result["models"][n][metric] for n in names]
        bars = ax.bar(np.arange(len(names)) + j * width, vals, width, label=metric)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    if result["protocol"] == "stratified" and Path(result["dataset"]).name == "ml-100k":
        for (label, (ndcg, _, _)), style in zip(ANCHORS.items(), ("--", ":", "-.")):
            ax.axhline(ndcg, color="k", lw=0.8, ls=style, label=f"{label} nDCG@10 (published) {ndcg}")
    ax.set_xticks(np.arange(len(names)) + width, names)
    title = f"{Path(result['dataset']).name}, {result['protocol']}" + (
        f" ({result['stratify']})" if "stratify" in result else ""
    )
    ax.set_title(title + f", seed {result['seed']}")
    top = max(result["models"][n][m] for n in names for m in metrics)
    ax.set_ylim(0, top * 1.45)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    fig.tight_layout()
    save(fig, path)
