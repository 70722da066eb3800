"""Catalogues for the dialogue evaluations: ml-latest-small, or ml-latest-small with the ReDial movies it
lacks merged in as title + year items (`merge_redial_movies`), each with its own index under index/;
and ReDial's own mention counts as a popularity prior (`--redial-prior`, labelled as in-domain).

With knowledge tables (`Settings.knowledge`), the merged ReDial films are first bridged to MovieLens 25M
(`bridge_movies`: its movies.csv by title and year as the knowledge join finds them, never guessed): they take its genres, and its
links.csv gives them the TMDB/IMDb ids the knowledge tables join by (written as the snapshot's links.csv,
beside ml-latest-small's own links, and read before the tables).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.config import Settings
from convrec.core.files import write_atomic
from convrec.data.dialogs import (
    DataError,
)
from convrec.data.titles import normalize_title
from convrec.eval.redial import REPO_ROOT, SHARED, System, shown

# --------------------------------------------------------------------------------------------
# Catalogues: MovieLens, and MovieLens with ReDial's movie list merged in

REDIAL_ID_OFFSET = 10_000_000  # merged ReDial-only items get this + their ReDial id
ML25M = SHARED / "ml-25m"  # MovieLens 25M's movies.csv and links.csv: a bridge from titles to genres and ids
NO_GENRES = "(no genres listed)"


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
    "configured" (the index the global --index-dir names, as is) or a catalogue path. With knowledge
    tables (`Settings.knowledge`) the index is another one (its name ends in "-knowledge"), and the
    merged ReDial films are bridged to MovieLens 25M first (`bridge_movies`).
    """
    from convrec.data.loaders import load_catalog
    from convrec.retrieve.build import build_index

    if catalog == "configured":
        return settings, {"catalog": "configured", "index_dir": str(settings.index_dir)}
    info: dict[str, Any] = {"catalog": catalog}
    knowledge = settings.knowledge
    suffix = "-knowledge" if knowledge else ""
    if catalog in ("redial-merged", "ml-latest-small"):
        base = SHARED / "ml-latest-small"
        if not base.is_dir():
            raise DataError(f"{base}: not found; pass --catalog PATH (a MovieLens directory)")
        source = str(base)
        if knowledge:
            knowledge = f"{base / 'links.csv'},{knowledge}"
        if catalog == "redial-merged":
            if movies_csv is None or not Path(movies_csv).is_file():
                raise DataError(f"{movies_csv}: ReDial's movie list is needed for --catalog redial-merged")
            merged, stats = merge_redial_movies(load_catalog(source), Path(movies_csv))
            links: dict[int, tuple[str, str]] = {}
            if knowledge:
                merged, links, stats["bridged"] = bridge_movies(merged, ML25M, lambda i: i >= REDIAL_ID_OFFSET)
            snapshot = Path(settings.cache_dir) / "catalogs" / f"redial-merged-{merged.content_hash()[:12]}"
            if not (snapshot / "catalog.json").is_file():
                merged.save(snapshot)
            if knowledge:
                write_links(snapshot / "links.csv", base / "links.csv", links)
                knowledge = f"{snapshot / 'links.csv'},{settings.knowledge}"
            source = str(snapshot)
            info.update(stats)
        index_dir = REPO_ROOT / "index" / f"{catalog}{suffix}"
    else:
        source = catalog
        index_dir = REPO_ROOT / "index" / f"custom-{Path(catalog).name}{suffix}"
    settings = settings.model_copy(update={"dataset": source, "index_dir": index_dir, "knowledge": knowledge})
    build_index(settings, progress=sys.stderr.isatty(), log=log_fn)
    info.update(
        source=shown(Path(source)),
        index_dir=str(index_dir.relative_to(REPO_ROOT)) if index_dir.is_relative_to(REPO_ROOT) else str(index_dir),
    )
    return settings, info


def bridge_movies(
    catalog, ml25m: Path, which: Callable[[int], bool]
) -> tuple[Any, dict[int, tuple[str, str]], dict[str, int]]:
    """The catalogue with MovieLens 25M's genres on the items `which` picks that have none, and their
    (imdbId, tmdbId) from its links.csv, for the knowledge tables to join by; and counts of how it went.

    An item is bridged when exactly one film of ml-25m's movies.csv has its title (`TitleIndex`: the full
    title, without the parts in parentheses, an alternative title, or the part before a colon: ReDial writes
    "Jumanji (2017)" for "Jumanji: Welcome to the Jungle") in its year, else one year off (ReDial's years are sometimes
    wrong). A film without a year, or whose title fits several, is left as it is: never guessed.
    """
    import csv

    from convrec.data.catalog import Catalog, normalise_title
    from convrec.data.knowledge import TitleIndex

    movies_csv, links_csv = Path(ml25m) / "movies.csv", Path(ml25m) / "links.csv"
    if not movies_csv.is_file() or not links_csv.is_file():
        raise DataError(f"{ml25m}: MovieLens 25M's movies.csv and links.csv are needed to bridge ReDial's films")
    genres: dict[int, tuple[str, ...]] = {}
    films: list[tuple[int, str, int | None]] = []
    with movies_csv.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            title, year = normalise_title(r["title"])
            movie = int(r["movieId"])
            genres[movie] = tuple(g for g in r["genres"].split("|") if g and g != NO_GENRES)
            films.append((movie, title, year))
    titles = TitleIndex(films, before_colon=True)
    with links_csv.open(encoding="utf-8", newline="") as f:
        ids = {int(r["movieId"]): (r["imdbId"], r["tmdbId"]) for r in csv.DictReader(f)}
    items, links = dict(catalog.items), {}
    stats = {"items": 0, "bridged": 0, "ambiguous": 0, "no_year": 0, "genres": 0}
    for item_id, item in catalog.items.items():
        if not which(item_id):
            continue
        stats["items"] += 1
        if item.year is None:
            stats["no_year"] += 1
            continue
        found = titles.find(item.title, item.year)
        if len(found) != 1:
            stats["ambiguous"] += bool(found)
            continue
        movie = next(iter(found))
        stats["bridged"] += 1
        if movie in ids:
            links[item_id] = ids[movie]
        if genres[movie] and not item.genres:
            items[item_id] = replace(item, genres=genres[movie])
            stats["genres"] += 1
    return Catalog(catalog.name, items, catalog.interactions), links, stats


def write_links(path: Path, base_links: Path, more: dict[int, tuple[str, str]]) -> None:
    """A MovieLens links.csv (movieId, imdbId, tmdbId): `base_links`' rows, then `more` (item id -> ids)."""
    lines = base_links.read_text(encoding="utf-8").splitlines()
    lines += [f"{item_id},{imdb},{tmdb}" for item_id, (imdb, tmdb) in sorted(more.items())]
    write_atomic(path, "\n".join(lines) + "\n")


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
