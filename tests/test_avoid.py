"""Avoided genres ("not too romantic", "别太吓人") lower an item's rank but never filter it out; genres
said beside liked films ("I love horror, like Get Out") lift theirs without filtering either."""

from __future__ import annotations

import numpy as np
import pytest

from convrec.chat.relax import Select
from convrec.chat.session import Session
from convrec.core.types import Candidates, Needs
from convrec.retrieve.blend import AVOID_PENALTY, penalize
from tests.test_pipeline import make_recommender

SILLY_SUMMER = 2  # the tiny catalogue's only 90s comedy that is also a romance


def test_penalize_takes_a_fixed_share_of_the_blended_score() -> None:
    c = Candidates(np.array([1, 2, 3]), {"blend": np.array([1.0, 0.9, 0.5], np.float32), "text": np.ones(3)})
    out = penalize(c, np.array([True, False, True]))
    assert out.scores["blend"].tolist() == pytest.approx([1 - AVOID_PENALTY, 0.9, 0.5 * (1 - AVOID_PENALTY)])
    assert out.scores["text"].tolist() == [1, 1, 1] and out.ids.tolist() == [1, 2, 3]


def test_an_avoided_genre_ranks_below_comparable_items() -> None:
    rec = make_recommender()
    exact = rec.ranking.with_(select=Select(rec.ranking.select.filters, relaxing=False))  # one tier: the 90s comedies
    needs = Needs(include_genres=("Comedy",), year_min=1990, year_max=1999)
    plain, _ = exact(needs, set(), 10, 10, {})
    soft, _ = exact(needs.with_(avoid_genres=("Romance",)), set(), 10, 10, {})
    assert sorted(plain.ids.tolist()) == sorted(soft.ids.tolist())  # the same items: no filter
    assert plain.ids.tolist().index(SILLY_SUMMER) < len(plain) - 1  # it was not last before
    assert soft.ids.tolist()[-1] == SILLY_SUMMER
    before = plain.scores["blend"][plain.ids.tolist().index(SILLY_SUMMER)]
    after = soft.scores["blend"][soft.ids.tolist().index(SILLY_SUMMER)]
    assert after == pytest.approx(before * (1 - AVOID_PENALTY))


def test_an_avoided_genre_still_appears_when_nothing_else_fits() -> None:
    turn = make_recommender().recommend(Session(), "a 90s romance, not too funny")
    assert turn.needs.include_genres == ("Romance",) and turn.needs.avoid_genres == ("Comedy",)
    assert {r.item.item_id for r in turn.recs[:2]} == {17, SILLY_SUMMER}  # Love in Paris, and the comedy
    assert turn.info["relaxed"]  # the only two; the nearest come after them
    assert turn.to_dict()["needs"]["avoid_genres"] == ["Comedy"]


def test_not_too_scary_is_kept_over_turns_and_lifted_by_asking_for_it() -> None:
    rec = make_recommender()
    session = Session()
    rec.recommend(session, "a funny 90s movie, not too scary")
    assert session.needs.avoid_genres == ("Horror",) and session.needs.exclude_genres == ()
    rec.recommend(session, "older, from the 80s")
    assert session.needs.avoid_genres == ("Horror",)
    rec.recommend(session, "ok, something scary")
    assert session.needs.avoid_genres == () and session.needs.include_genres == ("Horror",)


def test_a_genre_said_beside_a_liked_film_lifts_its_films_without_filtering_the_rest() -> None:
    rec = make_recommender()  # Laugh Riot's (1) fans never rated a western
    liked = Needs(liked=(1,))
    genres = {}
    for name, needs in (("plain", liked), ("loose", liked.with_(loose_genres=("Western",)))):
        top, _ = rec.ranking(needs, {1}, 10, 10, {})
        genres[name] = [rec.catalog.get(int(i)).genres for i in top.ids]
    assert not any("Western" in g for g in genres["plain"])
    assert any("Western" in g for g in genres["loose"])  # "I love westerns, like Laugh Riot": lifted
    assert sum("Western" not in g for g in genres["loose"]) >= 5  # a preference, not a filter
