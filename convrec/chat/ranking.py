"""The blend and explain stages: retrieved `Candidates` -> one blended list, best first -> the same
list with each item's evidence (what ties it to the request, for its reason and the reply); and
`Ranking`, the select -> retrieve -> blend sequence a chat and an evaluation both run.

    Blend(library, evidence, weights)(cands, query, n) -> Candidates (+ "blend", best first, at most n)
    Explain(catalog, genres, cf, evidence)(cands, needs) -> Candidates (+ evidence)
    Ranking(select, retrieve, blend)(needs, exclude, k, n, timings) -> Candidates, what was loosened
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convrec.chat.evidence import Evidence
from convrec.chat.relax import Select
from convrec.core.timing import timed
from convrec.core.types import Candidates, Needs, Relaxation
from convrec.data.catalog import Catalog
from convrec.rank.explain import item_ties
from convrec.retrieve.blend import blend, penalize
from convrec.retrieve.candidates import TIER, Retrieve
from convrec.retrieve.cf import Scorer
from convrec.retrieve.search import title_named
from convrec.retrieve.sources import SOURCES, Library, Query, about_words, series_left


@dataclass(frozen=True)
class Blend:
    """The blend stage: per tier, the weighted mean of the sources' normalised columns (see
    `convrec.retrieve.blend.blend`, each source weighted as it says for the turn), a film the whole
    message names first ("Submarine"), an avoided genre ("not too scary") and, for "like X but
    funnier", the films without Y's genres ranked lower, never filtered out (as, for "like Jaws but newer", Jaws's own
    sequels: `series_left`); then every item tied to the request's words
    only by a model placed after those the catalogue ties to them (`Evidence.catalogue_first`).
    Each tier keeps its best `n`, after every item of the tiers before it."""

    library: Library
    evidence: Evidence
    weights: Mapping[str, float]  # by source name, every registered source (`sources.weights`)

    def __call__(self, cands: Candidates, query: Query, n: int) -> Candidates:
        needs, filters = query.needs, self.library.filters
        query = replace(query, columns=frozenset(cands.scores), multilingual=self.library.multilingual)
        weights = {name: source.turn_weight(self.weights, query) for name, source in SOURCES.items()}
        floors = cands.scores.get(TIER, np.zeros(len(cands), np.float32))
        parts = []
        for floor in dict.fromkeys(floors.tolist()):  # tiers in retrieved order, best first
            part = cands.take(floors == floor)
            part = blend(part, weights, self.missing(part))
            at = self.library.rows(part.ids)
            if needs.keywords and not needs.liked:  # a bare title ("Submarine") names that film: it comes first
                named = title_named([self.library.items[r] for r in at], needs)
                part.scores["blend"] = np.where(named, np.float32(1.0), part.scores["blend"])
            if needs.avoid_genres and filters is not None:
                part = penalize(part, filters.genre_share(needs.avoid_genres)[at] > 0)
            if needs.liked and needs.prefer_genres and filters is not None:  # "like X but funnier": the funny ones
                part = penalize(part, filters.genre_share(needs.prefer_genres)[at] == 0, 0.8)
            if needs.liked:  # "like Jaws but newer": not Jaws's own sequels
                part = penalize(part, series_left(self.library, needs, at), 0.8)
            part = self.evidence.catalogue_first(part.sorted_by("blend"), needs, about_words(self.library, needs))
            part.scores["blend"] = part.scores["blend"] + np.float32(floor)
            parts.append(part.head(n))
        if not parts:  # nothing allowed: an empty list
            return blend(cands, weights)
        return Candidates.concat(parts).head(n)

    def missing(self, cands: Candidates) -> dict[str, np.ndarray]:
        """Per source, the candidates it knows nothing about (see `convrec.retrieve.blend.blend`)."""
        rows = self.library.rows(cands.ids)
        return {name: m for name, s in SOURCES.items() if (m := s.missing(self.library, rows)) is not None}

    def with_(self, **changes: object) -> Blend:
        """Another configuration of the stage: other `weights`, another `library`."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Explain:
    """The explain stage: what ties each candidate to the request (`convrec.rank.explain.Ties`): its
    record, the liked items it resembles, whose fans also liked it (CF), and whether its own
    document is near the request's words (`Evidence.near`); `genres` is the catalogue's vocabulary
    (`Catalog.genres`, read once: it walks every item)."""

    catalog: Catalog
    genres: Sequence[str]
    cf: Scorer
    evidence: Evidence

    def __call__(self, cands: Candidates, needs: Needs) -> Candidates:
        items = [self.catalog.get(int(i)) for i in cands.ids]
        near = self.evidence.near(cands, needs)
        return cands.with_evidence(item_ties(items, needs, self.catalog, self.genres, self.cf, near))


@dataclass(frozen=True)
class Ranking:
    """select -> retrieve -> blend, each timed: one pass's best `n` allowed candidates, best first, and
    what was loosened. A chat and an evaluation compose it from the same stages, configured apart
    (an evaluation: no loosening, its own weights and popularity prior)."""

    select: Select
    retrieve: Retrieve
    blend: Blend

    def __call__(
        self, needs: Needs, exclude: set[int], k: int, n: int, timings: dict[str, float],
        picture: np.ndarray | None = None, proposed: Sequence[int] = (),
    ) -> tuple[Candidates, Relaxation | None]:  # fmt: skip
        with timed(timings, "filter"):
            tiers, relaxed = self.select(needs, exclude, k)
        query = Query(needs, picture, proposed, self.blend.weights)
        with timed(timings, "retrieve"):
            found = self.retrieve(query, tiers, n)
        with timed(timings, "blend"):
            return self.blend(found, query, n), relaxed

    def with_(self, **changes: object) -> Ranking:
        """The same stages but those named, e.g. `blend` with other weights."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_library(self, library: Library) -> Ranking:
        """The same stages over another library (another popularity prior or conversation model)."""
        return replace(self, retrieve=replace(self.retrieve, library=library), blend=self.blend.with_(library=library))
