"""The item catalogue: items and their interactions, a content hash, and the snapshot `index/` keeps.

Every source format (see `convrec.data.loaders`) becomes the same `Catalog`: `Item`s keyed by integer id
and an interactions table (user_id, item_id, rating, timestamp). Also here: how MovieLens titles are
normalised ("Matrix, The (1999)" -> "The Matrix", 1999) and keyed for matching across sources.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from convrec.core.errors import CatalogError
from convrec.core.files import write_atomic
from convrec.core.types import Item
from convrec.data.tables import INTERACTION_DTYPES, NO_GENRE, interactions, read_csv

log = logging.getLogger(__name__)

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
        raw = read_csv(inter_path, "interactions.csv.gz", required=tuple(INTERACTION_DTYPES))
        inter = interactions(
            raw, "interactions.csv.gz", user="user_id", item="item_id", rating="rating", timestamp="timestamp"
        )
        return assemble(
            name, items, inter, "interactions.csv.gz", "item_id", items_label="items.jsonl", count_popularity=False
        )


def _item_json(item: Item) -> str:
    """One item as canonical JSON (sorted keys, no spaces): the unit of both hashing and saving."""
    fields = {name: getattr(item, name) for name in _ITEM_FIELDS}  # not asdict(): it deep-copies, 5x slower
    if not item.tag_sources:  # a catalogue that says nothing of its tags' sources keeps its hash
        del fields["tag_sources"]
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


_ITEM_FIELDS = tuple(Item.__dataclass_fields__)


# --------------------------------------------------------------------------------------------
# Titles

# Trailing articles MovieLens moves to the end ("Matrix, The"), in the languages it uses.
ARTICLES = ("The A An La Le Les L' Il I Lo Gli Un Une Una Uno El Los Las Der Die Das Den Det Ein Eine Da").split()
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


def assemble(
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
