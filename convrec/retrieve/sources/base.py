"""What a blend source is: a name, a default weight, and this turn's scores over the catalogue.

    source.column(library, query) -> Column | None      once per turn (None: nothing to say)
    column.top(allowed, n) -> item ids                  its shortlist among the allowed rows
    column.at(rows) -> scores                           its score of each candidate row

`Library` holds the parts every source reads (the FAISS index, the collaborative scorer, the
encoder, pictures, attributes, genre filters, the conversation model, the popularity prior), built
once per index; `Query` is one turn's request. A source's score column and its weight share its
name ("text", "cf", ...): `Settings.weights` overrides its default weight (`CONVREC_W_<NAME>`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from convrec.core.types import Item, Needs
from convrec.retrieve.attributes import Attributes
from convrec.retrieve.cf import Scorer
from convrec.retrieve.conv import ConvModel
from convrec.retrieve.embed import Encoder, is_multilingual
from convrec.retrieve.filters import Filters, first_allowed, top_allowed
from convrec.retrieve.images import ImageIndex
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.search import embedded_query, query_text

# "Like X": the ratings past which a film counts as known (`Library.known_level`).
KNOWN_RATINGS = 10


def known_level(popularity: np.ndarray) -> np.float32:
    """The popularity (log(1 + ratings)) past which a film counts as known: `KNOWN_RATINGS` ratings, or a
    tenth of the most rated film's where fewer people rate (24 films rated by 30 people: every one).

    >>> [round(float(np.expm1(known_level(np.log1p(n)))), 1) for n in (np.array([3.0, 329.0]), np.array([6.0, 13.0]))]
    [10.0, 1.3]
    """
    most = float(np.expm1(popularity.max())) if len(popularity) else 0.0
    return np.float32(np.log1p(min(KNOWN_RATINGS, most / 10)))


@dataclass(frozen=True)
class Library:
    """The catalogue-side parts the sources read, row i = `items[i]` = `index.ids[i]`.

    `popularity` is the popularity prior (log interaction counts, one value per row; an evaluation
    may substitute another with `with_`), `known` marks the rows it covers: the others have no
    popularity evidence, which is not a zero."""

    items: Sequence[Item]
    index: ItemIndex
    cf: Scorer
    encoder: Encoder
    filters: Filters | None  # None: no genres to prefer (a bare index, `convrec bench scale`)
    attributes: Attributes | None  # None: no attributes to be about or to share with liked items
    popularity: np.ndarray
    known: np.ndarray
    noun: str = "movie"
    n: int = 300  # candidates per source
    images: ImageIndex | None = None  # the items' pictures in CLIP space; None for a text-only index
    conv: ConvModel | None = None  # learnt from dialogues (`convrec learn`)

    @cached_property
    def unrated(self) -> np.ndarray:
        """The rows nobody has rated: collaborative scores know nothing of them (without item
        records, none)."""
        if not self.items:
            return np.zeros(len(self.index.ids), bool)
        return np.array([it.popularity == 0 for it in self.items], bool)

    @cached_property
    def ungenred(self) -> np.ndarray:
        """The rows without genres: sharing genres or having a preferred one, they are unknown, not
        a zero (a film newer than the ratings, known by its title only)."""
        if self.filters is None:
            return np.zeros(len(self.index.ids), bool)
        return np.asarray(~self.filters.genre_matrix.any(axis=1), bool)

    @cached_property
    def known_level(self) -> np.float32:
        """The popularity past which a film counts as known for "like X" (`known_level`), once per prior."""
        return known_level(self.popularity)

    @cached_property
    def little_known(self) -> np.ndarray:
        """The rows fewer people rated than make a film known (`known_level`), once per prior."""
        return np.asarray(self.popularity < self.known_level, bool)

    @cached_property
    def multilingual(self) -> bool:
        """Whether the text encoder reads more than English (`convrec.retrieve.embed.is_multilingual`)."""
        return is_multilingual(self.encoder.name)

    @cached_property
    def by_popularity(self) -> np.ndarray:
        """The rows, most popular first (sorted once per prior, not per turn)."""
        return np.argsort(-self.popularity, kind="stable")

    def popular(self, allowed: np.ndarray, n: int) -> np.ndarray:
        """The ids of the `n` most popular allowed items."""
        return self.index.ids[first_allowed(self.by_popularity, allowed, n)]

    def rows(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The index rows of catalogue ids (every id must be in the index)."""
        return np.array([self.index.position[int(i)] for i in ids], np.int64)

    def with_(self, **changes: Any) -> Library:
        """A copy with other parts, e.g. another popularity prior or conversation model; what it
        derived from the parts kept is kept (an evaluation swaps the conversation model per turn)."""
        new = replace(self, **changes)
        derived_from = (
            ("unrated", "items"), ("ungenred", "filters"), ("by_popularity", "popularity"),
            ("known_level", "popularity"), ("little_known", "popularity"), ("multilingual", "encoder"),
        )  # fmt: skip
        for derived, source in derived_from:
            if derived in self.__dict__ and source not in changes:
                new.__dict__[derived] = self.__dict__[derived]
        return new


@dataclass
class Query:
    """One pass's request: the needs, an uploaded picture's vector, the items a model proposed
    (best first) and the configured weights (a source that weighs nothing may stay silent)."""

    needs: Needs
    picture: np.ndarray | None = None
    proposed: Sequence[int] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    columns: frozenset[str] = frozenset()  # the sources that spoke: known once retrieved (`Blend`)
    multilingual: bool = False  # the text encoder reads more than English (`Blend` fills it from the library)

    def text(self, library: Library) -> str:
        """What the text encoder sees (see `convrec.retrieve.search.query_text`)."""
        return query_text(self.needs, library.noun, library.multilingual)

    def encoded(self, library: Library) -> str | None:
        """What the text source embeds (`convrec.retrieve.search.embedded_query`)."""
        return embedded_query(self.needs, library.noun, library.multilingual)


class Column(Protocol):
    """One source's scores in one turn (`convrec.retrieve.cf.base.Folded` is one)."""

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        """The ids of its best allowed rows, at most `n` (may be none)."""
        ...

    def at(self, rows: np.ndarray) -> np.ndarray:
        """Its score of each catalogue row in `rows`."""
        ...


class Source(Protocol):
    """A blend source (see the module docstring); register one in `convrec.retrieve.sources`."""

    name: str
    weight: float  # its default blend weight

    def column(self, library: Library, query: Query) -> Column | None:
        """This turn's scores, or None when it has nothing to say (no column, no candidates)."""
        ...

    def turn_weight(self, weights: Mapping[str, float], query: Query) -> float:
        """Its weight in this turn, from the configured `weights` by source name."""
        ...

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray | None:
        """The rows it knows nothing about (no evidence, which is not a zero score), or None."""
        ...


class Plain:
    """Defaults of a source: its configured weight, and evidence for every row."""

    name: str
    weight: float

    def turn_weight(self, weights: Mapping[str, float], query: Query) -> float:
        return weights.get(self.name, self.weight)

    def missing(self, library: Library, rows: np.ndarray) -> np.ndarray | None:
        return None


@dataclass
class Scored:
    """A column scoring the candidates only: it brings none of its own."""

    scores: Any  # rows -> scores

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return np.empty(0, np.int64)

    def at(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.scores(rows), np.float32)


@dataclass
class PerRow:
    """A column of one value per catalogue row; its shortlist is its best allowed rows, the more
    popular first among equals.

    >>> from types import SimpleNamespace as NS
    >>> lib = NS(index=NS(ids=np.array([7, 8, 9])), popularity=np.array([0.0, 2.0, 1.0]))
    >>> c = PerRow(lib, np.array([1.0, 1.0, 0.0]))
    >>> c.top(np.ones(3, bool), 1).tolist(), c.at(np.array([2, 0])).tolist()
    ([8], [0.0, 1.0])
    """

    library: Any  # a Library (what it reads: index.ids, popularity)
    values: np.ndarray

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        popularity = self.library.popularity
        spread = float(popularity.max()) + 1.0 if len(popularity) else 1.0
        return top_allowed(self.library.index.ids, self.values + popularity / spread / 10, allowed, n)

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.values[rows] if len(rows) else np.zeros(0, np.float32)


POPULAR_N = 50  # the most popular allowed items always compete


@dataclass
class Popular:
    """The popularity prior as a column; its shortlist is the `POPULAR_N` most popular allowed items
    (fewer when fewer are asked for)."""

    library: Library

    def top(self, allowed: np.ndarray, n: int) -> np.ndarray:
        return self.library.popular(allowed, min(n, POPULAR_N))

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.library.popularity[rows]


def liked_rows(library: Library, needs: Needs) -> list[int]:
    """The index rows of the liked items."""
    return [library.index.position[i] for i in needs.liked if i in library.index.position]
