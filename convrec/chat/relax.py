"""When fewer items than asked for meet every hard constraint, loosen the constraints one at a time
and show the nearest items after the exact ones, saying what was loosened.

    relax(filters, needs, exclude, k) -> (tiers, Relaxation | None)

`tiers` are disjoint row masks, best first: the items that meet every constraint, then those
that meet all but the first constraint given up, and so on. Each step gives up the constraint
whose absence frees the most items ("a 1950s anime horror musical": Horror), and a period is
not dropped but widened to the nearest years that hold enough items. Items already shown, liked
or disliked (`exclude`) never come back, loosened or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convrec.core.types import Needs, Relaxation
from convrec.retrieve.filters import Filters


def without(needs: Needs, key: str) -> Needs:
    """`needs` without one constraint ("years", "genre:G", "exclude:G").

    >>> without(Needs(include_genres=("Horror", "Musical"), year_min=1950), "genre:Horror").include_genres
    ('Musical',)
    """
    if key == "years":
        return needs.with_(year_min=None, year_max=None)
    kind, _, genre = key.partition(":")
    if kind == "genre":
        return needs.with_(include_genres=tuple(g for g in needs.include_genres if g != genre))
    return needs.with_(exclude_genres=tuple(g for g in needs.exclude_genres if g != genre))


def constraints(needs: Needs, dated: bool) -> list[str]:
    """The hard constraints of `needs` that could be given up."""
    keys = ["years"] if dated and (needs.year_min is not None or needs.year_max is not None) else []
    keys += [f"genre:{g}" for g in needs.include_genres]
    return keys + [f"exclude:{g}" for g in needs.exclude_genres]


def widen_years(filters: Filters, needs: Needs, exclude: set[int], k: int) -> Needs:
    """The asked years widened on both sides just enough for `k` items to meet the other constraints
    (items of unknown year never qualify)."""
    rows = filters.allowed(without(needs, "years"), exclude, every_min=0) & (filters.years >= 0)
    years = filters.years[rows].astype(np.int64)
    if not len(years):
        return without(needs, "years")
    lo = needs.year_min if needs.year_min is not None else -(10**9)
    hi = needs.year_max if needs.year_max is not None else 10**9
    distance = np.sort(np.maximum(np.maximum(lo - years, years - hi), 0))
    d = int(distance[min(k, len(distance)) - 1])
    return needs.with_(
        year_min=None if needs.year_min is None else needs.year_min - d,
        year_max=None if needs.year_max is None else needs.year_max + d,
    )


def relax(filters: Filters, needs: Needs, exclude: set[int], k: int) -> tuple[list[np.ndarray], Relaxation | None]:
    """The tiers of allowed rows and what was loosened (None when every constraint left `k` items).

    Every included genre is required here: "all of Animation, Horror and Musical" before "any".
    """
    strict = filters.allowed(needs, exclude, every_min=0)
    if strict.sum() >= k:
        return [strict], None
    count = {
        key: int(filters.allowed(without(needs, key), exclude, every_min=0).sum())
        for key in constraints(needs, filters.dated)
    }
    options = tuple(key for key in sorted(count, key=lambda key: -count[key]) if count[key] > strict.sum())
    tiers, seen, current, dropped = [strict], strict.copy(), needs, []
    while seen.sum() < k:
        left = [key for key in constraints(current, filters.dated) if key not in dropped]
        freed = {key: int(filters.allowed(without(current, key), exclude, every_min=0).sum()) for key in left}
        if not freed or max(freed.values()) <= seen.sum():
            break
        key = max(freed, key=lambda key: freed[key])
        current = widen_years(filters, current, exclude, k) if key == "years" else without(current, key)
        dropped.append(key)
        mask = filters.allowed(current, exclude, every_min=0)
        tiers.append(mask & ~seen)
        seen |= mask
    return tiers, Relaxation(int(strict.sum()), tuple(dropped), options)


@dataclass(frozen=True)
class Select:
    """The select stage: the needs' hard constraints -> tiers of allowed rows and what was loosened.

    `relaxing` (a chat): too few exact items and the constraints are loosened (`relax`); without it
    (an evaluation grading the filter as it stands), one tier: every included genre when `k` items
    have them all, else any of them (`Filters.allowed`). Items in `exclude` never come back."""

    filters: Filters
    relaxing: bool = True

    def __call__(self, needs: Needs, exclude: set[int], k: int) -> tuple[list[np.ndarray], Relaxation | None]:
        if self.relaxing:
            return relax(self.filters, needs, exclude, k)
        return [self.filters.allowed(needs, exclude=exclude, every_min=k)], None
