"""`convrec bench images`: fuse separate text and picture indexes at query time, or search one
joint vector per item? Measured on synthetic data whose right answers are known by construction.

No real CLIP weights are available offline, so this cannot say how well posters are understood;
it measures how the two designs combine two imperfect sources. The setting:

  - items: a genre ("western") in their text, and for most a poster whose main colour is known
    (`testing.colour_picture`); some titles name another colour than their poster ("The Red
    Mile" with a blue poster), as real titles do; some items have no poster;
  - the picture model: `testing.tiny_clip` trained for `steps` contrastive steps on other
    pictures of the same colours; the text model: `testing.HashEncoder` (bag of words);
  - queries: "a western film with a red poster" for every genre x colour; relevant = the items of
    that genre whose poster is that colour.

Designs compared (w = the picture weight, 1 - w the text weight):
  text      the text index alone;
  picture   the CLIP words -> picture index alone;
  fused     both indexes searched, the union of their top `pool` rescored with min-max
            normalised columns and weighted (`blend.blend`, as `Recommender.retrieve` does);
  concat    one index of [sqrt(1-w) text, sqrt(w) picture]: inner product = (1-w) cos_text +
            w cos_picture on raw, unnormalised cosines (no poster -> zeros there);
  average   one CLIP-space vector per item, the mean of CLIP(item text) and CLIP(poster),
            searched with CLIP(query): one encoder for both.

Prints a table and writes JSON (default reports/bench_images.json).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.files import write_json
from convrec.core.types import Candidates, Item
from convrec.data.documents import item_text
from convrec.retrieve.blend import blend
from convrec.retrieve.images import ImageEncoder, ImageIndex
from convrec.retrieve.index import ItemIndex
from convrec.testing import (
    CAPTION_NOUNS,
    COLOURS,
    HashEncoder,
    colour_picture,
    tiny_clip,
)

TITLE_WORDS = ("Mile", "River", "Night", "Road", "Summer", "Station", "Dawn", "Harbour", "Letter", "Garden")


def synthetic_items(
    n_items: int, seed: int, missing: float = 0.2, misleading: float = 0.3
) -> tuple[list[Item], dict[int, str]]:
    """(items, item id -> poster colour); posters are drawn with seeds no training step used."""
    rng = np.random.default_rng(seed)
    colours = list(COLOURS)
    items, poster = [], {}
    for item_id in range(1, n_items + 1):
        genre = CAPTION_NOUNS[rng.integers(len(CAPTION_NOUNS))]
        colour = colours[rng.integers(len(colours))]
        words = list(rng.choice(TITLE_WORDS, 2, replace=False))
        if rng.random() < misleading:
            words[0] = str(rng.choice([c for c in colours if c != colour])).title()
        title = "The " + " ".join(words)
        items.append(Item(item_id, title, genres=(genre.title(),)))
        if rng.random() >= missing:
            poster[item_id] = colour
    return items, poster


def recall_at(ranked: np.ndarray, relevant: set[int], k: int) -> float:
    """Share of the relevant items in the top k.

    >>> recall_at(np.array([3, 1, 2]), {1, 9}, 2)
    0.5
    """
    return len(set(ranked[:k].tolist()) & relevant) / len(relevant)


def run(
    clip_dir: Path,
    *,
    items: int = 600,
    seeds: tuple[int, ...] = (1, 2, 3),
    weights=(0.3, 0.5, 0.7),
    k: int = 10,
    pool: int = 300,
) -> dict[str, Any]:
    """Recall@k of every design, averaged over queries and catalogue seeds."""
    clip = ImageEncoder(clip_dir)
    text_encoder = HashEncoder(dim=256)
    scores: dict[str, list[float]] = {}
    for seed in seeds:
        catalogue, poster = synthetic_items(items, seed)
        ids = np.array([it.item_id for it in catalogue], dtype=np.int64)
        texts = [item_text(it) for it in catalogue]
        text_vectors = text_encoder.encode(texts)
        pictured = [it for it in catalogue if it.item_id in poster]
        pictures = clip.encode_images(
            [colour_picture(poster[it.item_id], seed=10_000_000 + seed * 100_000 + it.item_id) for it in pictured]
        )
        picture_ids = np.array([it.item_id for it in pictured], dtype=np.int64)
        text_index = ItemIndex.build(text_vectors, ids, kind="flat")
        image_index = ImageIndex(clip, ItemIndex.build(pictures.vectors, picture_ids, kind="flat"), ids)
        padded = np.zeros((len(ids), clip.dim), np.float32)
        padded[np.searchsorted(ids, picture_ids)] = pictures.vectors
        average = clip.encode_text(texts) + padded
        average_index = ItemIndex.build(average / np.linalg.norm(average, axis=1, keepdims=True), ids, kind="flat")
        concat_index = {
            w: ItemIndex.build(np.hstack([np.sqrt(1 - w) * text_vectors, np.sqrt(w) * padded]), ids, kind="flat")
            for w in weights
        }
        everything = np.ones(len(ids), dtype=bool)

        for genre in CAPTION_NOUNS:
            for colour in COLOURS:
                relevant = {
                    it.item_id for it in pictured if it.genres == (genre.title(),) and poster[it.item_id] == colour
                }
                if not relevant:
                    continue
                query = f"a {genre} film with a {colour} poster"
                qt, qi = text_encoder.encode([query])[0], clip.encode_text([query])[0]
                runs = {
                    "text": text_index.search(qt, k)[0],
                    "picture": image_index.search(qi, k, everything)[0],
                    "average": average_index.search(qi, k)[0],
                }
                for w in weights:
                    runs[f"fused w={w}"] = fused(text_index, image_index, qt, qi, w, pool, k)
                    runs[f"concat w={w}"] = concat_index[w].search(
                        np.concatenate([np.sqrt(1 - w) * qt, np.sqrt(w) * qi]), k
                    )[0]
                for name, ranked in runs.items():
                    scores.setdefault(name, []).append(recall_at(ranked, relevant, k))
    return {
        "metric": f"recall@{k}",
        "queries": len(scores["text"]),
        "items": items,
        "seeds": list(seeds),
        "pool": pool,
        "results": {name: round(float(np.mean(v)), 4) for name, v in scores.items()},
    }


def fused(
    text_index: ItemIndex, image_index: ImageIndex, qt: np.ndarray, qi: np.ndarray, w: float, pool: int, k: int
) -> np.ndarray:
    everything = np.ones(len(text_index), dtype=bool)
    ids = np.unique(np.concatenate([text_index.search(qt, pool)[0], image_index.search(qi, pool, everything)[0]]))
    cands = Candidates(ids, {"text": text_index.scores_for(qt, ids), "image": image_index.scores_for(qi, ids)})
    return blend(cands, {"text": 1 - w, "image": w}).sorted_by("blend").ids[:k]


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['metric']} over {result['queries']} queries ({result['items']} items x seeds {result['seeds']})")
    for name, value in result["results"].items():
        print(f"  {name:<14} {value:.3f}")


def add_bench_cli(bench_subparsers: Any) -> None:
    """Register `bench images` on cli.py's existing `bench` subparsers."""

    b = bench_subparsers.add_parser(
        "images", help="fused text + picture indexes vs one joint vector, on synthetic posters"
    )
    b.add_argument("--items", type=int, default=600)
    b.add_argument("--steps", type=int, default=150, help="training steps of the tiny CLIP")
    b.add_argument("--weights", default="0.3,0.5,0.7", help="picture weights w to compare, comma-separated")
    b.add_argument("--clip", type=Path, help="a real CLIP directory instead of training the tiny one")
    b.add_argument("--out", type=Path, default=Path("reports/bench_images.json"))
    b.set_defaults(func=cmd_bench_images)


def cmd_bench_images(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clip_dir = args.clip or tiny_clip(Path(tmp) / "clip", train_steps=args.steps)
        result = run(Path(clip_dir), items=args.items, weights=tuple(float(w) for w in args.weights.split(",")))
    result.update(
        clip=str(args.clip) if args.clip else f"tiny_clip, {args.steps} steps",
        seconds=round(time.perf_counter() - started, 1),
    )
    write_json(args.out, result)
    print_table(result)
    print(f"wrote {args.out}")
    return 0
