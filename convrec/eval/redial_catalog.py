"""Catalogues for the dialogue evaluations: ml-latest-small, or ml-latest-small with the ReDial movies it
lacks merged in as title + year items (`merge_redial_movies`), each with its own index under index/;
and ReDial's own mention counts as a popularity prior (`--redial-prior`, labelled as in-domain).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.config import Settings
from convrec.data.dialogs import (
    DataError,
)
from convrec.data.titles import normalize_title
from convrec.eval.redial import REPO_ROOT, SHARED, System, shown

# --------------------------------------------------------------------------------------------
# Catalogues: MovieLens, and MovieLens with ReDial's movie list merged in

REDIAL_ID_OFFSET = 10_000_000  # merged ReDial-only items get this + their ReDial id


def merge_redial_movies(catalog, movies_csv: Path):
    """The catalogue plus every movie of ReDial's list that it lacks, as title + year items with
    no genres and no ratings (so only text retrieval and an LLM can reach them).

    Returns (catalogue, stats). A ReDial name without a year joins a same-titled one already
    added rather than making a second item.
    """
    import csv

    from convrec.core.types import Item
    from convrec.data.catalog import Catalog
    from convrec.data.titles import TitleMatcher, split_year

    movies_csv = Path(movies_csv)
    if not movies_csv.is_file():
        raise DataError(f"{movies_csv}: no such file (ReDial's movies_with_mentions.csv)")
    matcher = TitleMatcher(catalog.items.values())
    with movies_csv.open(encoding="utf-8", newline="") as f:
        rows = [(int(r["movieId"]), *split_year(" ".join(r["movieName"].split()))) for r in csv.DictReader(f)]
    rows.sort(key=lambda r: r[2] is None)  # named with a year first
    added: dict[int, Item] = {}
    by_key: dict[str, int] = {}
    matched = 0
    for redial_id, title, year in rows:
        if not title:
            continue
        if matcher.match(title, year) is not None:
            matched += 1
            continue
        key = normalize_title(title)
        if year is None and key in by_key:
            continue
        if f"{key}|{year}" in by_key:
            continue
        item_id = REDIAL_ID_OFFSET + redial_id
        added[item_id] = Item(item_id, title, year)
        by_key.setdefault(key, item_id)
        by_key[f"{key}|{year}"] = item_id
    merged = Catalog(f"{catalog.name}+redial", {**catalog.items, **added}, catalog.interactions)
    return merged, {"redial_movies": len(rows), "matched": matched, "added": len(added), "items": len(merged)}


def prepare_index(
    settings: Settings, catalog: str, movies_csv: Path | None, *, log_fn=print
) -> tuple[Settings, dict[str, Any]]:
    """Settings pointing at a built index for `catalog`, building it if needed (a no-op when current).

    `catalog`: "redial-merged" (ml-latest-small + ReDial's movie list), "ml-latest-small",
    "configured" (the index the global --index-dir names, as is) or a catalogue path.
    """
    from convrec.data.loaders import load_catalog
    from convrec.retrieve.build import build_index

    if catalog == "configured":
        return settings, {"catalog": "configured", "index_dir": str(settings.index_dir)}
    info: dict[str, Any] = {"catalog": catalog}
    if catalog in ("redial-merged", "ml-latest-small"):
        base = SHARED / "ml-latest-small"
        if not base.is_dir():
            raise DataError(f"{base}: not found; pass --catalog PATH (a MovieLens directory)")
        source = str(base)
        if catalog == "redial-merged":
            if movies_csv is None or not Path(movies_csv).is_file():
                raise DataError(f"{movies_csv}: ReDial's movie list is needed for --catalog redial-merged")
            merged, stats = merge_redial_movies(load_catalog(source), Path(movies_csv))
            snapshot = Path(settings.cache_dir) / "catalogs" / f"redial-merged-{merged.content_hash()[:12]}"
            if not (snapshot / "catalog.json").is_file():
                merged.save(snapshot)
            source = str(snapshot)
            info.update(stats)
        index_dir = REPO_ROOT / "index" / catalog
    else:
        source = catalog
        index_dir = REPO_ROOT / "index" / ("custom-" + Path(catalog).name)
    settings = settings.model_copy(update={"dataset": source, "index_dir": index_dir})
    build_index(settings, progress=sys.stderr.isatty(), log=log_fn)
    info.update(
        source=shown(Path(source)),
        index_dir=str(index_dir.relative_to(REPO_ROOT)) if index_dir.is_relative_to(REPO_ROOT) else str(index_dir),
    )
    return settings, info


def redial_counts(rec, movies_csv: Path, resolve, *, minus: Sequence[Path] = ()) -> np.ndarray:
    """Per catalogue row, how often ReDial's dialogues mention the movie (movies_with_mentions.csv),
    less the mentions in the `minus` files (the dialogues being graded), floored at 0.

    This is popularity learned from ReDial's own training dialogues, which a fine-tuned CRS has and
    a zero-shot LLM has not: results that use it are labelled as such.
    """
    import csv
    import json as _json

    counts: dict[str, int] = {}
    with Path(movies_csv).open(encoding="utf-8", newline="") as f:
        names = {}
        for r in csv.DictReader(f):
            counts[r["movieId"]] = int(r["nbMentions"])
            names[r["movieId"]] = r["movieName"]
    for path in minus:
        with Path(path).open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    for m in (msg.get("text", "") for msg in _json.loads(line)["messages"]):
                        for rid in re.findall(r"@(\d+)", m):
                            if rid in counts:
                                counts[rid] -= 1
    out = np.zeros(len(rec.items), np.float64)
    for rid, n in counts.items():
        item_id = resolve(names[rid])
        if item_id is not None and item_id in rec.index.position and n > 0:
            out[rec.index.position[item_id]] += n
    return out


def with_redial_prior(systems: Sequence[System], counts: np.ndarray, share: float = 1.0) -> None:
    """Make each system's popularity `share` ReDial mention counts (log) and the rest its own.

    The counts cover every movie (one ReDial's dialogues never mention has a count of 0, the lowest),
    so a movie MovieLens never rated has popularity evidence under the prior, and a rated one ReDial
    never mentions is not "missing" either.
    """
    prior = np.log1p(counts).astype(np.float32)
    for s in systems:
        library = s.ranking.retrieve.library
        values = share * prior + (1 - share) * library.popularity
        s.ranking = s.ranking.with_library(library.with_(popularity=values, known=np.ones(len(values), dtype=bool)))
