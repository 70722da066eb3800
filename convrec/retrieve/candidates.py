"""The retrieve stage: a query and the allowed rows (in tiers, best first) -> `Candidates`.

    Retrieve(library)(query, tiers, n) -> Candidates(ids, {source: scores, ..., "tier": t})

Every registered source (`convrec.retrieve.sources`) reads the query once; within each tier the
candidates are the union of every source's shortlist among the tier's rows, each scored by every
source (one column per source), so that `blend` fuses them tier by tier. Tiers are read until they
hold `n` candidates: a tier's candidates always rank after those of the tiers before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convrec.core.errors import InputError
from convrec.core.types import Candidates, Needs
from convrec.retrieve.images import Picture
from convrec.retrieve.sources import SOURCES, Column, Library, Query

# The column of how many tiers rank below a candidate's: `blend` lifts its blended score (0..1) by
# that much, so that every tier's candidates stay after those of the tiers before it.
TIER = "tier"


@dataclass
class Retrieve:
    """The retrieve stage over one library (see the module docstring)."""

    library: Library

    def __call__(self, query: Query, tiers: Sequence[np.ndarray], n: int) -> Candidates:
        columns = self.columns(query)
        parts: list[Candidates] = []
        for rank, allowed in enumerate(tiers):
            if sum(min(len(p), n) for p in parts) >= n:
                break
            if allowed.any() or (not parts and rank == len(tiers) - 1):  # nothing at all: an empty list
                part = self.within(columns, allowed)
                part.scores[TIER] = np.full(len(part), len(tiers) - 1 - rank, np.float32)
                parts.append(part)
        return Candidates.concat(parts)

    def columns(self, query: Query) -> dict[str, Column]:
        """Each source's column for this query, by name; the silent ones are left out."""
        return {name: c for name, s in SOURCES.items() if (c := s.column(self.library, query)) is not None}

    def within(self, columns: dict[str, Column], allowed: np.ndarray) -> Candidates:
        """The allowed candidates of every column, scored by every column."""
        pieces = [column.top(allowed, self.library.n) for column in columns.values()]
        ids = np.unique(np.concatenate(pieces)) if pieces else np.empty(0, np.int64)
        rows = self.library.rows(ids)
        return Candidates(ids, {name: column.at(rows) for name, column in columns.items()})

    def encoded(self, needs: Needs) -> str | None:
        """What the text source embeds for `needs` (None: no words)."""
        return Query(needs).encoded(self.library)

    def picture(self, image: Picture) -> np.ndarray:
        """An uploaded picture -> its CLIP vector; InputError when there is no picture search."""
        if self.library.images is None:
            raise InputError(
                "This index has no pictures to compare with: build it with CONVREC_IMAGE_MODEL set to a CLIP model."
            )
        return self.library.images.encoder.encode_image(image)  # ImageError (an InputError) says what is wrong with it
