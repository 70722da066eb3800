"""Plots, people and posters from movielens100k_details.csv (a scrape of IMDb pages), joined to a
catalogue by ml-100k id, IMDb id or normalised title and year; suspect rows are set aside.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from convrec.core.errors import CatalogError
from convrec.core.types import Item
from convrec.data.catalog import Catalog, normalise_title, title_key
from convrec.data.tables import int_column, read_csv

# --------------------------------------------------------------------------------------------
# Details: plots, people and posters from movielens100k_details.csv


@dataclass(frozen=True)
class DetailsMatch:
    """How many rows of a details file found their catalogue item, by which key, and how many were
    set aside as suspect (the scrape landed on another IMDb page than the movie's)."""

    rows: int
    by_id: int = 0
    by_imdb: int = 0
    by_title: int = 0
    suspect: int = 0

    @property
    def matched(self) -> int:
        return self.by_id + self.by_imdb + self.by_title

    def __str__(self) -> str:
        return (
            f"{self.matched} of {self.rows} detail rows matched (by id {self.by_id}, by IMDb id "
            f"{self.by_imdb}, by title+year {self.by_title}); {self.suspect} suspect rows skipped"
        )


_NO_PLOT = "It looks like we don't have any Plot Summaries"
_DETAILS_COLUMNS = ("movie_id", "movie_title", "movie_url", "year", "description", "director", "cast", "poster_url")


def enrich_with_details(
    catalog: Catalog, path: Path, *, by_id: bool = False, imdb_ids: dict[int, int] | None = None
) -> tuple[Catalog, DetailsMatch]:
    """Fill Item.text (plot), Item.people (directors, then cast) and Item.image (largest poster).

    Rows are matched by ml-100k id when `by_id` (the catalogue is ml-100k), by IMDb id when
    `imdb_ids` is given (links.csv), then by normalised title + year, then by the main title
    (alternative titles dropped) + year; ambiguous titles are not matched.

    Some 5-8% of the rows in movielens100k_details.csv describe another IMDb page than their
    movie (a TV episode, or "The Mask (1994)" with the plot of Pulp Fiction). Such a row is used
    only when its IMDb id agrees with links.csv, or, without links, when the year scraped from
    IMDb is within one of the title's year; otherwise it is counted as suspect and skipped.
    """
    path = Path(path)
    label = path.name
    df = read_csv(path, label, required=_DETAILS_COLUMNS, text=tuple(c for c in _DETAILS_COLUMNS if c != "movie_id"))
    detail_ids = int_column(df, "movie_id", label).tolist()
    parsed = [normalise_title(t) if isinstance(t, str) else ("", None) for t in df["movie_title"].tolist()]
    tt = [int(m) if isinstance(m, str) else None for m in df["movie_url"].str.extract(r"tt(\d+)")[0].tolist()]
    scraped_year = pd.to_numeric(df["year"], errors="coerce").tolist()
    plausible = [y == y and ty is not None and abs(y - ty) <= 1 for y, (_, ty) in zip(scraped_year, parsed)]
    links = imdb_ids or {}
    by_imdb = {m: i for i, m in links.items() if i in catalog.items}

    targets: dict[int, int] = {}  # details row -> item id
    claimed: set[int] = set()  # item ids already given a row
    counts = {"by_id": 0, "by_imdb": 0, "by_title": 0}
    suspect: set[int] = set()

    def claim(row: int, item_id: int, how: str) -> None:
        targets[row] = item_id
        claimed.add(item_id)
        counts[how] += 1

    for row in range(len(df)):  # ml-100k lists a few movies twice: the first row wins
        imdb = tt[row]
        i = by_imdb.get(imdb) if imdb is not None else None
        if i is not None:
            if i not in claimed:
                claim(row, i, "by_imdb")
        elif by_id and detail_ids[row] in catalog.items and detail_ids[row] not in claimed:
            if plausible[row]:
                claim(row, detail_ids[row], "by_id")
            else:
                suspect.add(row)
    for main_only in (False, True):
        index: dict[str, list[int]] = {}
        for i, item in catalog.items.items():
            if i not in claimed:
                index.setdefault(title_key(item.title, item.year, main_only=main_only), []).append(i)
        for row, (title, year) in enumerate(parsed):
            if row in targets or row in suspect or not title:
                continue
            found = index.get(title_key(title, year, main_only=main_only), [])
            if len(found) != 1 or found[0] in claimed:
                continue
            disagrees = found[0] in links and tt[row] is not None and links[found[0]] != tt[row]
            if disagrees or not plausible[row]:
                suspect.add(row)
            else:
                claim(row, found[0], "by_title")

    items = dict(catalog.items)
    for row, item_id in targets.items():
        items[item_id] = _with_details(items[item_id], df, row, label)
    match = DetailsMatch(rows=len(df), suspect=len(suspect), **counts)
    return Catalog(catalog.name, items, catalog.interactions), match


def _with_details(item: Item, df: pd.DataFrame, row: int, label: str) -> Item:
    def names(column: str) -> list[str]:
        values = _literal_list(df[column].iat[row], label, row, column)
        return [v.strip() for v in values if isinstance(v, str) and v.strip() and v.strip().lower() != "nan"]

    plot = df["description"].iat[row]
    plot = plot.strip() if isinstance(plot, str) and not plot.startswith(_NO_PLOT) else ""
    people = tuple(dict.fromkeys(names("director") + names("cast")))
    posters = names("poster_url")
    return replace(
        item,
        text=plot or item.text,
        people=people or item.people,
        image=posters[-1] if posters else item.image,
    )


def _literal_list(value: object, label: str, row: int, column: str) -> list[object]:
    """Parse a Python-literal list such as "['David Lean']" (how the details file stores lists)."""
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise CatalogError(
            f"{label} line {row + 2}: field '{column}' must be a list like ['A', 'B'], got {value[:60]!r}"
        ) from None
    return list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
