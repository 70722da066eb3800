"""Tables -> items and interactions, validated by column: a bad value is reported as
`FILE line N: field 'F' ...` (the header is line 1). Shared by the MovieLens loaders and bring-your-own
catalogues. Interactions that name unknown items are dropped with a logged warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from convrec.core.errors import CatalogError
from convrec.core.types import Item

NO_GENRE = {"(no genres listed)", "unknown", ""}
MAX_TAGS = 20
INTERACTION_DTYPES = {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"}

# --------------------------------------------------------------------------------------------
# Building and validating


def make_items(
    ids: Sequence[int], titles: Sequence[str], years: Sequence[int | None], genres: Sequence[tuple[str, ...]]
) -> dict[int, Item]:
    return {int(i): Item(item_id=int(i), title=t, year=y, genres=g) for i, t, y, g in zip(ids, titles, years, genres)}


def read_csv(
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
    require(df, required, label)
    return df


def require(df: pd.DataFrame, columns: Iterable[str], label: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns)) or "none"
        raise CatalogError(f"{label} line 1: missing column(s) {', '.join(missing)} (found: {found})")


def bad_value(df: pd.DataFrame, column: str, bad: np.ndarray, label: str, what: str, first_line: int) -> CatalogError:
    row = int(np.flatnonzero(bad)[0])
    value = df[column].iat[row]
    shown = "nothing" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(str(value))
    return CatalogError(f"{label} line {row + first_line}: field '{column}' must be {what}, got {shown}")


def int_column(df: pd.DataFrame, column: str, label: str, first_line: int = 2) -> np.ndarray:
    """The column as int64, or a CatalogError naming the first line holding something else."""
    s = df[column]
    if pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
        return s.to_numpy(dtype=np.int64)
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(num) | (num != np.round(num)) | (np.abs(num) >= 2**63)
    if bad.any():
        raise bad_value(df, column, bad, label, "an integer", first_line)
    return num.astype(np.int64)


def float_column(df: pd.DataFrame, column: str, label: str, first_line: int = 2) -> np.ndarray:
    num = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num)
    if bad.any():
        raise bad_value(df, column, bad, label, "a number", first_line)
    return num


def text_column(df: pd.DataFrame, column: str, label: str, first_line: int = 2) -> list[str]:
    values = df[column].tolist()
    bad = np.array([not (isinstance(v, str) and v.strip()) for v in values], dtype=bool)
    if bad.any():
        raise bad_value(df, column, bad, label, "non-empty text", first_line)
    return values


def check_unique(ids: np.ndarray, label: str, column: str, first_line: int = 2) -> None:
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[row])[0])
        raise CatalogError(
            f"{label} line {row + first_line}: field '{column}' repeats id {ids[row]} "
            f"(first on line {first + first_line}); item ids must be unique"
        )


def interactions(
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
    require(df, (user, item), label)
    n = len(df)
    ratings = float_column(df, rating, label, first_line) if rating in df else np.ones(n)
    if timestamp not in df:
        times = np.zeros(n, dtype=np.int64)
    elif pd.api.types.is_integer_dtype(df[timestamp].dtype):
        times = df[timestamp].to_numpy(dtype=np.int64)
    else:  # RecBole writes timestamp:float; fractions of a second are dropped
        times = np.floor(float_column(df, timestamp, label, first_line)).astype(np.int64)
    return pd.DataFrame(
        {
            "user_id": int_column(df, user, label, first_line),
            "item_id": int_column(df, item, label, first_line),
            "rating": ratings.astype(np.float32),
            "timestamp": times,
        }
    )


def parse_mapping(spec: str, fields: Iterable[str], flag: str = "--map") -> dict[str, str]:
    """FIELD=COLUMN pairs, comma separated, as a dict; FIELD= with no column leaves the field
    empty even where a column of that name exists.

    A comma separates pairs only where a `name=` follows it, so a column name or a separator
    may hold commas.

    >>> parse_mapping("title=name, text=blurb,sep=,", ["title", "text", "sep"])
    {'title': 'name', 'text': 'blurb', 'sep': ','}
    """
    fields = tuple(fields)
    out: dict[str, str] = {}
    for pair in re.split(r",(?=\s*\w+\s*=)", spec) if spec.strip() else []:
        key, eq, value = pair.partition("=")
        key = key.strip()
        value = value if key == "sep" else value.strip()
        if not eq:
            raise CatalogError(f"{flag} {spec!r}: {pair.strip()!r} is not FIELD=COLUMN")
        if key not in fields:
            raise CatalogError(
                f"{flag}: {pair.strip()!r} maps an unknown field {key!r}; the fields are {', '.join(fields)}"
            )
        if key in out:
            raise CatalogError(f"{flag}: field {key!r} is mapped twice")
        if key == "sep" and not value:
            raise CatalogError(f"{flag}: sep= needs a separator, e.g. sep=;")
        out[key] = value
    return out


def split_genres(value: object, sep: str | None) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(dict.fromkeys(canonical_genre(g) for g in value.split(sep) if g.strip() not in NO_GENRE))


def canonical_genre(name: str) -> str:
    """ml-100k says "Children's" where later MovieLens releases say "Children"."""
    name = name.strip()
    return "Children" if name == "Children's" else name


def add_tags(items: dict[int, Item], path: Path) -> dict[int, Item]:
    """Attach tags.csv: lowercased, deduplicated, most used first (ties alphabetical), at most MAX_TAGS;
    their source is "viewers" (who tagged them)."""
    tags = read_csv(path, "tags.csv", required=("movieId", "tag"), text=("tag",))
    ids = int_column(tags, "movieId", "tags.csv")
    words = tags["tag"].fillna("").str.strip().str.lower().str.split().str.join(" ")
    df = pd.DataFrame({"item_id": ids, "tag": words})
    df = df[(df["tag"] != "") & df["item_id"].isin(list(items))]
    counts = df.groupby(["item_id", "tag"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values(["item_id", "n", "tag"], ascending=[True, False, True], kind="stable")
    top = counts.groupby("item_id", sort=False).head(MAX_TAGS)
    per_item = top.groupby("item_id", sort=False)["tag"].agg(tuple)
    out = dict(items)
    for item_id, item_tags in per_item.items():
        out[int(item_id)] = replace(out[int(item_id)], tags=item_tags, tag_sources=("viewers",) * len(item_tags))
    return out
