"""Loosening constraints that leave too few items: the most limiting first, years widened to the nearest."""

from __future__ import annotations

from convrec.chat.relax import relax
from convrec.core.types import Needs
from convrec.testing import tiny_catalog

from .test_pipeline import make_recommender


def filters():
    return make_recommender().ranking.select.filters


def ids(mask):
    catalog_ids = tiny_catalog().ids()
    return {int(catalog_ids[i]) for i in mask.nonzero()[0]}


def test_enough_items_means_nothing_is_loosened():
    tiers, relaxed = relax(filters(), Needs(include_genres=("Comedy",)), set(), 5)
    assert relaxed is None and len(tiers) == 1


def test_too_few_keeps_the_exact_ones_first_then_drops_what_removes_the_most():
    needs = Needs(
        include_genres=("Horror",), year_min=1990, year_max=1999
    )  # Night Terror 1993, Haunted Comedy Club 1995
    tiers, relaxed = relax(filters(), needs, set(), 4)
    assert ids(tiers[0]) == {5, 9} and relaxed.strict == 2
    assert relaxed.dropped == ("genre:Horror",)  # every 90s film, against four horror films of any year
    assert ids(tiers[1]) == {1, 2, 3, 4, 15, 17, 21, 23}
    assert relaxed.options == ("genre:Horror", "years")


def test_years_are_widened_just_enough_to_the_nearest():
    needs = Needs(include_genres=("Comedy",), year_min=2010, year_max=2019)  # only Family Laughs (2015)
    tiers, relaxed = relax(filters(), needs, set(), 4)
    assert relaxed.dropped == ("years",) and ids(tiers[0]) == {20}
    assert ids(tiers[1]) == {19, 3, 23}  # 2008, 1999, 1997: the nearest comedies, no older


def test_items_already_shown_or_excluded_never_come_back_loosened():
    needs = Needs(include_genres=("Western", "Sci-Fi"), exclude_genres=("Drama",))
    tiers, relaxed = relax(filters(), needs, {14}, 6)
    assert relaxed.strict == 0 and relaxed.dropped[0] == "genre:Western"  # three sci-fi films against two westerns
    assert ids(tiers[1]) == {15, 16, 23}
    assert not any(14 in ids(t) for t in tiers) and 22 not in ids(tiers[1])
