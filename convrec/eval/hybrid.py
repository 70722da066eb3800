"""`convrec eval hybrid`: does blending text and collaborative scores beat each alone?

The task, built from ml-latest-small: a user tagged a movie they rated 4 or more. Their tags on
it are the *text need* ("dark comedy, twist ending"); their other liked movies are the *session*;
the tagged movie is the single right answer. We report Recall@10 (= Hit@10, one target) for
  - text only: cosine of the need to each item's text (title, year, genres, other users' tags);
  - CF only: the collaborative scorer folded in over the session;
  - popularity only;
  - the blend the pipeline makes (`convrec.retrieve.blend.blend` over the same candidate union the
    pipeline retrieves: top 300 by text, top 300 by CF, top 50 by popularity), with weights
    chosen on the examples of half the users (validation), then measured once on the examples
    of the other half (test): no user is in both.

Leaks closed on purpose: each example's own (user, movie) tags are removed from the item texts,
and its (user, movie) rating from the CF training data. Cold-start check: the targets of half of
the test examples, and a random tenth of the catalogue as decoys, lose *all* their interactions
and all their tags (nobody has interacted with a new item, so nobody has tagged it); CF cannot
reach them, and text only by title, year and genres. The "cold-aware" blend treats "no
interactions" as missing evidence rather than a zero score (`blend(..., missing=)`, what the
pipeline does).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convrec.core.files import write_json
from convrec.core.types import Candidates
from convrec.eval.plots import pyplot, save
from convrec.retrieve.blend import blend
from convrec.retrieve.sources import weights

LIKED = 4.0
PER_USER = 30  # examples per user at most: one prolific tagger must not be the whole test
RETRIEVE_TEXT = RETRIEVE_CF = 300
RETRIEVE_POP = 50


def build_examples(ratings: pd.DataFrame, tags: pd.DataFrame, seed: int = 42) -> pd.DataFrame:
    """One row per (user, liked movie they tagged): the need text and a val/test label, the same
    for all of a user's examples (a random half of the users validate, the others test).

    >>> r = pd.DataFrame({"userId": [1, 1, 1], "movieId": [10, 20, 30], "rating": [5.0, 4.0, 2.0]})
    >>> t = pd.DataFrame({"userId": [1, 1, 1], "movieId": [10, 10, 30], "tag": ["Heist", "twist", "meh"]})
    >>> build_examples(r, t)[["userId", "movieId", "need"]].values.tolist()
    [[1, 10, 'heist, twist']]
    """
    t = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    t = t[t["tag"] != ""]
    needs = t.groupby(["userId", "movieId"])["tag"].agg(lambda s: ", ".join(dict.fromkeys(s))).reset_index(name="need")
    liked = ratings[ratings["rating"] >= LIKED][["userId", "movieId"]]
    ex = needs.merge(liked, on=["userId", "movieId"])
    rng = np.random.default_rng(seed)
    parts = [g.iloc[rng.permutation(len(g))][:PER_USER] for _, g in ex.groupby("userId", sort=True)]
    if not parts:
        return ex.assign(split=[])
    users = np.sort(ex["userId"].unique())
    validating = set(rng.permutation(users)[: len(users) // 2].tolist())
    return pd.concat(
        [g.assign(split="val" if g["userId"].iat[0] in validating else "test") for g in parts], ignore_index=True
    )


def _item_texts(
    catalog, tags: pd.DataFrame, examples: pd.DataFrame, untagged: frozenset[int] = frozenset()
) -> list[str]:
    """Each item's text, with every tag but the examples' own (the need must not be in the
    answer's text); `untagged` items (new ones, that nobody has interacted with) with none."""
    from convrec.data.documents import item_text
    from convrec.data.tables import MAX_TAGS

    drop = set(zip(examples["userId"], examples["movieId"]))
    tags = tags[~tags["movieId"].isin(untagged)]
    keep = tags[[(u, m) not in drop for u, m in zip(tags["userId"], tags["movieId"])]]
    words = keep.assign(tag=keep["tag"].astype(str).str.strip().str.lower())
    counts = words.groupby(["movieId", "tag"]).size().reset_index(name="n")
    counts = counts.sort_values(["movieId", "n", "tag"], ascending=[True, False, True])
    per_item = counts.groupby("movieId")["tag"].agg(lambda s: tuple(s[:MAX_TAGS]))
    return [item_text(replace(catalog.get(int(i)), tags=per_item.get(int(i), ()))) for i in catalog.ids()]


def _encode(encoder, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    backend = getattr(encoder, "backend", "")  # the same model on another runtime: vectors of its own
    key = hashlib.sha256(("\n".join(texts) + encoder.name + backend).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"hybrid_items_{key}.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path)
    vecs = encoder.encode(texts, batch_size=64)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    return vecs


def _top(scores: np.ndarray, n: int, banned: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64).copy()
    s[banned] = -np.inf
    n = min(n, len(s))
    top = np.argpartition(-s, n - 1)[:n]
    return top[np.isfinite(s[top])]


def _rank_of(scores: np.ndarray, target: int, banned: np.ndarray) -> int:
    """1-based rank of `target` among the rows not banned (ties count against it)."""
    s = scores.astype(np.float64).copy()
    s[banned] = -np.inf
    return int((s > s[target]).sum() + (s[s == s[target]].size - 1) + 1) if np.isfinite(s[target]) else 10**9


class _Case:
    __slots__ = ("banned", "cand", "cand_scores", "cf", "cold", "pop", "target", "text")

    def __init__(self, target, banned, text, cf, pop):
        self.target, self.banned, self.text, self.cf, self.pop = target, banned, text, cf, pop
        rows = [_top(text, RETRIEVE_TEXT, banned), _top(pop, RETRIEVE_POP, banned)]
        if cf.any():
            rows.append(_top(cf, RETRIEVE_CF, banned))
        self.cand = np.unique(np.concatenate(rows))
        self.cand_scores = {"text": text[self.cand], "cf": cf[self.cand], "pop": pop[self.cand]}
        self.cold = pop[self.cand] == 0  # log1p(0): no interactions at all

    def blend_hit(self, weights: dict[str, float], k: int = 10, cold_aware: bool = False) -> float:
        missing = {"cf": self.cold, "pop": self.cold} if cold_aware else None
        c = blend(Candidates(self.cand, dict(self.cand_scores)), weights, missing).sorted_by("blend")
        return float(self.target in c.ids[:k])

    def single_hit(self, source: str, k: int = 10) -> float:
        return float(_rank_of(getattr(self, source), self.target, self.banned) <= k)


def weight_grid(step: float = 0.1) -> list[dict[str, float]]:
    """Every (text, cf, pop) weight triple on the simplex with this step.

    >>> len(weight_grid(0.5)), weight_grid(0.5)[0]
    (6, {'text': 0.0, 'cf': 0.0, 'pop': 1.0})
    """
    n = round(1 / step)
    return [
        {"text": round(a * step, 3), "cf": round(b * step, 3), "pop": round((n - a - b) * step, 3)}
        for a in range(n + 1)
        for b in range(n + 1 - a)
    ]


def run_hybrid(
    dataset: str = "ml-latest-small",
    *,
    data_dir: Path | None = None,
    seed: int = 42,
    out_dir: Path | None = Path("reports"),
    encoder=None,
    cf_model: str = "ease",
    k: int = 10,
) -> dict[str, Any]:
    from convrec.core.config import Settings
    from convrec.data.loaders import load_catalog
    from convrec.eval.cf import make_model
    from convrec.eval.datasets import locate_dataset

    root = locate_dataset(dataset, data_dir)
    if not (root / "tags.csv").is_file():
        raise FileNotFoundError(f"{root}: the hybrid task needs tags.csv (ml-latest-small has it)")
    catalog = load_catalog(root)
    ratings = pd.read_csv(root / "ratings.csv")
    tags = pd.read_csv(root / "tags.csv")
    examples = build_examples(ratings, tags, seed)
    settings = Settings()
    if encoder is None:
        from convrec.retrieve.build import make_encoder

        encoder = make_encoder(settings)
    ids = catalog.ids()
    position = pd.Index(ids)
    texts = _item_texts(catalog, tags, examples)
    item_vecs = _encode(encoder, texts, settings.cache_dir)
    need_vecs = encoder.encode([f"{n} {settings.domain_noun}" for n in examples["need"]])

    inter = catalog.interactions
    pairs = pd.MultiIndex.from_frame(examples[["userId", "movieId"]].set_axis(["user_id", "item_id"], axis=1))
    train = inter[~pd.MultiIndex.from_frame(inter[["user_id", "item_id"]]).isin(pairs)]
    cf = make_model(cf_model, "chat").fit(train, ids)
    pop = np.log1p(np.bincount(position.get_indexer(train["item_id"]), minlength=len(ids)).astype(np.float32))

    test_ex = examples[examples["split"] == "test"]
    rng = np.random.default_rng(seed)
    cold_users = test_ex.iloc[rng.permutation(len(test_ex))[: len(test_ex) // 2]]
    # the held-out targets plus a random tenth of the catalogue lose all interactions, so most
    # cold items among the candidates are *not* the answer (a cold-aware blend cannot just
    # promote "whatever is cold")
    decoys = rng.choice(ids, size=len(ids) // 10, replace=False).tolist()
    cold_items = set(cold_users["movieId"].tolist()) | set(decoys)
    cold_texts = _item_texts(catalog, tags, examples, untagged=frozenset(cold_items))
    changed = [row for row, (a, b) in enumerate(zip(texts, cold_texts)) if a != b]
    cold_vecs = item_vecs.copy()  # the catalogue as the cold cases see it: new items untagged
    if changed:
        cold_vecs[changed] = _encode(encoder, [cold_texts[row] for row in changed], settings.cache_dir)
    cf_cold = make_model(cf_model, "chat").fit(train[~train["item_id"].isin(cold_items)], ids)
    pop_cold = np.log1p(
        np.bincount(
            position.get_indexer(train[~train["item_id"].isin(cold_items)]["item_id"]), minlength=len(ids)
        ).astype(np.float32)
    )

    liked = ratings[ratings["rating"] >= LIKED].groupby("userId")["movieId"].apply(lambda s: s.to_numpy())
    cases: dict[str, list[_Case]] = {"val": [], "test": [], "cold": []}
    for n, row in enumerate(examples.itertuples(index=False)):
        target = int(position.get_loc(row.movieId))
        session = [int(m) for m in liked.get(row.userId, np.empty(0)) if m != row.movieId]
        banned = position.get_indexer(session)
        banned = banned[banned >= 0]
        text = item_vecs @ need_vecs[n]
        cases[row.split].append(_Case(target, banned, text, cf.score(session), pop))
        if row.split == "test" and row.movieId in cold_items:
            cases["cold"].append(_Case(target, banned, cold_vecs @ need_vecs[n], cf_cold.score(session), pop_cold))

    grid = weight_grid(0.1)
    val_recall = [float(np.mean([c.blend_hit(w, k) for c in cases["val"]])) for w in grid]
    best = grid[int(np.argmax(val_recall))]
    val_cold = [float(np.mean([c.blend_hit(w, k, cold_aware=True) for c in cases["val"]])) for w in grid]
    best_cold = grid[int(np.argmax(val_cold))]
    configured = weights(settings.weights)
    default = {name: configured[name] for name in ("text", "cf", "pop")}

    def report(split: str) -> dict[str, Any]:
        cs = cases[split]
        out = {f"{s}_only": float(np.mean([c.single_hit(s, k) for c in cs])) for s in ("text", "cf", "pop")}
        out["blend_tuned"] = float(np.mean([c.blend_hit(best, k) for c in cs]))
        out["blend_default_weights"] = float(np.mean([c.blend_hit(default, k) for c in cs]))
        out["blend_tuned_cold_aware"] = float(np.mean([c.blend_hit(best_cold, k, cold_aware=True) for c in cs]))
        hits = {s: np.array([c.single_hit(s, k) for c in cs]) for s in ("text", "cf")}
        blend_hits = np.array([c.blend_hit(best, k) for c in cs])
        for src, h in hits.items():  # paired: examples only one of the two gets right
            out[f"blend_wins_vs_{src}"] = int(((blend_hits == 1) & (h == 0)).sum())
            out[f"blend_losses_vs_{src}"] = int(((blend_hits == 0) & (h == 1)).sum())
        out["examples"] = len(cs)
        out["se"] = float(np.sqrt(out["blend_tuned"] * (1 - out["blend_tuned"]) / max(1, len(cs))))
        return {key: round(v, 4) if isinstance(v, float) else v for key, v in out.items()}

    result = {
        "dataset": str(dataset),
        "cf_model": cf.config(),
        "encoder": encoder.name,
        "seed": seed,
        "k": k,
        "examples": {s: len(v) for s, v in cases.items()},
        "users": int(examples["userId"].nunique()),
        "users_per_split": {s: int(n) for s, n in examples.groupby("split")["userId"].nunique().items()},
        "weights_tuned_on_val": best,
        "weights_tuned_on_val_cold_aware": best_cold,
        "default_weights": default,
        "val": report("val"),
        "test": report("test"),
        "cold_start_test": report("cold"),
        "sweep": [
            {**w, "val_recall@10": round(r, 4), "val_recall@10_cold_aware": round(rc, 4)}
            for w, r, rc in zip(grid, val_recall, val_cold)
        ],
    }
    result["summary"] = {
        "task": "text need + liked items (ml-latest-small tags)",
        "test_recall@10": {
            key: result["test"][key]
            for key in (
                "text_only",
                "cf_only",
                "pop_only",
                "blend_tuned",
                "blend_default_weights",
                "blend_tuned_cold_aware",
            )
        },
        "cold_start_recall@10": {
            key: result["cold_start_test"][key]
            for key in ("text_only", "cf_only", "blend_tuned", "blend_tuned_cold_aware")
        },
        "weights": best,
        "examples": result["examples"],
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "hybrid.json", result)
        _plot(result, out_dir / "hybrid_weights.png")
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()

    sweep = result["sweep"]
    steps = sorted({s["text"] for s in sweep})
    grid = np.full((len(steps), len(steps)), np.nan)
    for s in sweep:
        grid[steps.index(s["cf"]), steps.index(s["text"])] = s["val_recall@10"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    im = a.imshow(grid, origin="lower", cmap="viridis", extent=(-0.05, 1.05, -0.05, 1.05))
    a.set_xlabel("text weight")
    a.set_ylabel("CF weight (popularity = 1 - text - CF)")
    a.set_title("validation Recall@10 over the weight simplex")
    best = result["weights_tuned_on_val"]
    a.plot(best["text"], best["cf"], "r*", ms=14, label="chosen")
    a.legend(loc="upper right")
    fig.colorbar(im, ax=a)
    t = result["test"]
    c = result["cold_start_test"]
    names = ["text only", "CF only", "pop only", "blend\n(default w)", "blend\n(tuned w)", "blend tuned\ncold-aware"]
    vals = [
        t["text_only"],
        t["cf_only"],
        t["pop_only"],
        t["blend_default_weights"],
        t["blend_tuned"],
        t["blend_tuned_cold_aware"],
    ]
    b.bar(names, vals, color=["#4c72b0", "#55a868", "#8c8c8c", "#c4a000", "#c44e52", "#8172b2"])
    cold = [c["text_only"], c["cf_only"], None, None, c["blend_tuned"], c["blend_tuned_cold_aware"]]
    xs = [i for i, v in enumerate(cold) if v is not None]
    b.plot(xs, [cold[i] for i in xs], "kx", ms=9, label=f"cold-start targets ({c['examples']})")
    b.legend(fontsize=8)
    for x, v in enumerate(vals):
        b.text(x, v + 0.005, f"{v:.3f}", ha="center")
    b.set_ylabel("test Recall@10")
    b.set_title(f"test, {t['examples']} examples")
    b.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    save(fig, path)
