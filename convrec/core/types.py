"""The values that flow between convrec's stages.

A chat turn is: text -> `Needs` (what the person wants) -> `Candidates` (item ids with
per-source scores) -> `Rec` list (items with a score and a reason). Everything here is
plain data with no behaviour beyond small, pure helpers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Item:
    """One catalogue record. Only `item_id` and `title` are required."""

    item_id: int
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    text: str = ""  # free text: plot, description
    tags: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # director, cast, authors
    image: str | None = None  # local path or URL
    popularity: float = 0.0
    # per tag, who gave it: "viewers" (MovieLens tags.csv) or a knowledge table ("TMDB", "IMDb"); "": unknown
    tag_sources: tuple[str, ...] = ()
    # what a language model wrote about it at build time (`convrec.data.profiles`), never shown: its
    # moods and themes (attributes, counted below the catalogue's) and the text embedded with its own
    written: tuple[str, ...] = ()
    profile: str = ""

    def label(self) -> str:
        """'Heat (1995)' or just the title when the year is unknown."""
        return f"{self.title} ({self.year})" if self.year else self.title

    def tag_source(self, tag: str) -> str:
        """Who gave the item `tag` (see `tag_sources`), "" when unknown.

        >>> Item(1, "Heat", tags=("heist", "l.a."), tag_sources=("TMDB", "viewers")).tag_source("l.a.")
        'viewers'
        """
        known = len(self.tag_sources) == len(self.tags) and tag in self.tags
        return self.tag_sources[self.tags.index(tag)] if known else ""


@dataclass(frozen=True)
class Needs:
    """What the person asked for, merged over the conversation.

    `liked`/`disliked` are catalogue item ids, never free titles: a title the parser
    could not resolve to the catalogue is dropped rather than trusted. Included and excluded
    genres are filters; `avoid_genres` ("not too scary", "别太浪漫") is a preference only: items
    of those genres rank lower but are never filtered out; `prefer_genres` ("but funnier", a mood
    such as "uplifting") is the preference for: such items rank higher, the others still count.
    """

    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()
    include_genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    keywords: tuple[str, ...] = ()
    text: str = ""
    language: str = "en"
    avoid_genres: tuple[str, ...] = ()
    prefer_genres: tuple[str, ...] = ()
    about: tuple[str, ...] = ()  # English attribute words a mood or topic means ("治愈" -> "heartwarming")
    # genres said as a taste ("I love horror") or beside liked items: a filter until liked items carry
    # the request, then preferred as `prefer_genres` are, without the "but funnier" demotion of the rest
    loose_genres: tuple[str, ...] = ()
    # genres merely asked for before anything was liked ("a comedy", not "only comedies"): a filter
    # until a film liked later lacks one, which turns it loose (`convrec.chat.session.merge`)
    asked_genres: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Needs:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
        return cls(**kw)  # type: ignore[arg-type]  # values come from to_dict

    def with_(self, **changes: Any) -> Needs:
        return replace(self, **changes)


@dataclass(frozen=True)
class NeedsUpdate:
    """What one turn says, to be merged into the running `Needs` (see session.merge).

    None means "this turn said nothing about it". Relative critiques ("older", "more like #2")
    are kept as such here and resolved against the items already shown when merging.
    """

    liked: tuple[int, ...] = ()
    disliked: tuple[int, ...] = ()
    include_genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    avoid_genres: tuple[str, ...] = ()  # "not too scary": a preference against, not a filter
    prefer_genres: tuple[str, ...] = ()  # "but funnier", "uplifting": a preference for, not a filter
    year_min: int | None = None
    year_max: int | None = None
    keywords: tuple[str, ...] = ()
    about: tuple[str, ...] = ()  # English attribute words of its moods and topics
    text: str = ""
    language: str = "en"
    older: bool = False
    newer: bool = False
    more_like: tuple[int, ...] = ()  # 1-based positions in the last shown list
    less_like: tuple[int, ...] = ()
    reset: bool = False
    source: str = "rules"  # "rules", "llm" or "llm+rules"
    genres_as: str = "request"  # how its genres were said: "request", "taste", "kind" or "constraint" (session.merge)


@dataclass
class Candidates:
    """The one list that flows through a turn's stages (LensKit's ItemList): item ids, best first
    once blended, with aligned score columns by source ("text", "cf", "pop", ..., "blend") and,
    once the explain stage has read it, each item's evidence (what ties it to the request:
    `convrec.rank.explain.Ties`). Every stage takes and returns this; nothing is re-joined by id.

    >>> c = Candidates(np.array([7, 8, 9]), {"blend": np.array([0.2, 0.9, 0.5])}, ["a", "b", "c"])
    >>> top = c.sorted_by("blend").head(2)
    >>> top.ids.tolist(), top.evidence
    ([8, 9], ['b', 'c'])
    """

    ids: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    evidence: list[Any] | None = None  # per item, aligned with `ids`; None until explained

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask_or_index: np.ndarray) -> Candidates:
        at = np.arange(len(self.ids))[mask_or_index]
        evidence = None if self.evidence is None else [self.evidence[i] for i in at]
        return Candidates(self.ids[at], {k: v[at] for k, v in self.scores.items()}, evidence)

    def head(self, n: int) -> Candidates:
        """The first `n` (all when fewer)."""
        return self.take(np.arange(min(len(self), n)))

    def sorted_by(self, column: str) -> Candidates:
        return self.take(np.argsort(-self.scores[column], kind="stable"))

    def with_evidence(self, evidence: list[Any]) -> Candidates:
        if len(evidence) != len(self):
            raise ValueError(f"evidence: {len(evidence)} entries for {len(self)} candidates")
        return Candidates(self.ids, self.scores, list(evidence))

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        """Candidates one after another; a score column some parts lack is 0 there (e.g. "llm").

        >>> c = Candidates.concat([Candidates(np.array([1]), {"blend": np.array([1.5])}),
        ...                        Candidates(np.array([2]), {"blend": np.array([0.2]), "llm": np.array([1.0])})])
        >>> c.ids.tolist(), c.scores["llm"].tolist()
        ([1, 2], [0.0, 1.0])
        """
        columns = list(dict.fromkeys(name for p in parts for name in p.scores))
        return cls(
            np.concatenate([p.ids for p in parts]) if parts else np.empty(0, np.int64),
            {
                name: np.concatenate([p.scores.get(name, np.zeros(len(p), np.float32)) for p in parts])
                for name in columns
            },
        )


@dataclass(frozen=True)
class Rec:
    """One recommendation as shown to the person."""

    item: Item
    score: float
    why: str
    why_source: str = "template"  # "llm" when the model wrote it and the checker accepted it

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item.item_id,
            "title": self.item.title,
            "year": self.item.year,
            "genres": list(self.item.genres),
            "score": round(float(self.score), 4),
            "why": self.why,
        }


@dataclass(frozen=True)
class Relaxation:
    """How a turn's hard constraints were loosened because fewer items than asked for met them all.

    Constraints are named "years", "genre:Horror" (an included genre) or "exclude:Horror".
    """

    strict: int  # items that meet every constraint (shown first)
    dropped: tuple[str, ...]  # what was loosened, in order, until enough items remained
    options: tuple[str, ...]  # every constraint that frees items when given up, the most limiting first
