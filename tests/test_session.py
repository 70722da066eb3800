from dataclasses import replace
from datetime import date

import pytest

from convrec.chat.session import ERA_YEARS, Session, merge
from convrec.core.errors import ConvrecError
from convrec.core.types import Needs, NeedsUpdate
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules

NINETIES_COMEDY = Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999)


def test_explicit_years_replace_and_exclusions_stay():
    n = merge(NINETIES_COMEDY, NeedsUpdate(older=True, year_min=1980, year_max=1989), [], {})
    assert (n.year_min, n.year_max) == (1980, 1989)
    assert n.exclude_genres == ("Horror",) and n.include_genres == ("Comedy",)


def test_newer_without_range_bounds_by_shown_years():
    n = merge(Needs(), NeedsUpdate(newer=True), [1, 2], {1: 1994, 2: 1999})
    assert (n.year_min, n.year_max) == (2000, None)


def test_asking_for_an_excluded_genre_lifts_the_exclusion():
    n = merge(NINETIES_COMEDY, NeedsUpdate(include_genres=("Horror",)), [], {})
    assert n.include_genres == ("Horror",) and n.exclude_genres == ()


def test_new_exclusion_removes_it_from_includes():
    n = merge(Needs(include_genres=("Comedy", "Horror")), NeedsUpdate(exclude_genres=("Horror",)), [], {})
    assert n.include_genres == ("Comedy",) and n.exclude_genres == ("Horror",)


def test_more_and_less_like_resolve_positions_of_the_last_list():
    n = merge(Needs(), NeedsUpdate(more_like=(2,), less_like=(1, 9)), [10, 20, 30], {})
    assert n.liked == (20,) and n.disliked == (10,)  # position 9 does not exist: ignored


def test_reset_forgets_everything_and_clears_shown():
    s = Session(needs=NINETIES_COMEDY)
    s.record("x", [1, 2])
    s.apply(NeedsUpdate(reset=True, include_genres=("Western",)), {})
    assert s.needs == Needs(include_genres=("Western",), asked_genres=("Western",))  # asked for, nothing liked
    assert s.shown == [] and s.last_shown == []


def test_feedback_moves_an_item_between_liked_and_disliked():
    s = Session()
    s.feedback(5, liked=True)
    s.feedback(5, liked=False)
    assert s.needs.liked == () and s.needs.disliked == (5,)


def test_save_load_round_trip(tmp_path):
    s = Session(needs=NINETIES_COMEDY)
    s.record("一部喜剧", [3, 4])
    path = tmp_path / "s.json"
    s.save(path)
    assert Session.load(path) == s
    assert Session.load(tmp_path / "missing.json") == Session()


def test_corrupted_session_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(ConvrecError, match="not a convrec session file"):
        Session.load(path)


def test_newer_on_a_first_turn_is_a_decade_newer_than_the_liked_title():
    n = merge(Needs(), NeedsUpdate(liked=(7,), newer=True), [], {7: 1995})
    assert (n.year_min, n.year_max) == (1995 + ERA_YEARS, None) and n.liked == (7,)
    n = merge(Needs(), NeedsUpdate(liked=(7,), older=True), [], {7: 1995})
    assert (n.year_min, n.year_max) == (None, 1995 - ERA_YEARS) and n.liked == (7,)
    n = merge(Needs(), NeedsUpdate(liked=(7,), newer=True), [8], {7: 1995, 8: 1999})  # a list shown: newer than it
    assert (n.year_min, n.year_max) == (2000, None)


def test_newer_does_not_move_a_bounded_range_past_the_current_year():
    this_year = date.today().year  # the default
    n = merge(Needs(year_min=this_year - 5, year_max=this_year + 4), NeedsUpdate(newer=True), [], {})
    assert n.year_max == this_year and n.year_min is not None and n.year_min <= this_year
    n = merge(Needs(year_min=2010, year_max=2019), NeedsUpdate(newer=True), [], {}, now_year=2026)
    assert (n.year_min, n.year_max) == (2020, 2026)
    n = merge(Needs(year_min=2020, year_max=2029), NeedsUpdate(newer=True), [], {}, now_year=2026)
    assert (n.year_min, n.year_max) == (2026, 2026)


def test_newer_than_this_years_items_stays_at_the_current_year():
    this_year = date.today().year
    n = merge(Needs(), NeedsUpdate(newer=True), [1, 2], {1: 2019, 2: this_year})
    assert (n.year_min, n.year_max) == (this_year, None)


def test_avoided_genres_accumulate_and_yield_to_a_later_wish():
    n = merge(Needs(include_genres=("Comedy",)), NeedsUpdate(avoid_genres=("Horror",)), [], {})
    assert (n.include_genres, n.exclude_genres, n.avoid_genres) == (("Comedy",), (), ("Horror",))
    n = merge(n, NeedsUpdate(avoid_genres=("Romance",)), [], {})
    assert n.avoid_genres == ("Horror", "Romance")
    n = merge(n, NeedsUpdate(include_genres=("Horror",)), [], {})  # asked for outright: no longer avoided
    assert n.include_genres == ("Horror",) and n.avoid_genres == ("Romance",)
    n = merge(n, NeedsUpdate(exclude_genres=("Romance",)), [], {})  # now a filter, not a preference
    assert n.exclude_genres == ("Romance",) and n.avoid_genres == ()


def test_not_too_softens_an_earlier_exclusion_and_inclusion():
    n = merge(Needs(include_genres=("Horror", "Comedy"), exclude_genres=("Thriller",)),
              NeedsUpdate(avoid_genres=("Horror", "Thriller")), [], {})  # fmt: skip
    assert (n.include_genres, n.exclude_genres, n.avoid_genres) == (("Comedy",), (), ("Horror", "Thriller"))


def test_avoided_genres_survive_a_session_file(tmp_path):
    s = Session(needs=Needs(avoid_genres=("Horror",)))
    s.save(tmp_path / "s.json")
    assert Session.load(tmp_path / "s.json").needs.avoid_genres == ("Horror",)
    assert Needs(avoid_genres=("Horror",)).to_dict()["avoid_genres"] == ["Horror"]
    assert Needs.from_dict({"include_genres": ["Comedy"]}).avoid_genres == ()  # a session file from before


def _said(*messages: str, liked: tuple[int, ...] = ()) -> Needs:
    """The needs after `messages`, each read by the rules and answered with items 5 and 6; `liked`
    is liked with the last one."""
    s = Session()
    for n, m in enumerate(messages):
        u = parse_rules(m, MOVIELENS_GENRES)
        s.apply(replace(u, liked=(*u.liked, *liked)) if n == len(messages) - 1 else u, {})
        s.record(m, [5, 6])
    return s.needs


@pytest.mark.parametrize(
    "messages",
    [
        ("I like horror movies",),  # a taste, nothing liked yet: the only thing to go on
        ("a comedy from the 90s, nothing scary",),
        ("an animated film", "more like #2"),  # asked for before anything was liked: stays a request
    ],
)
def test_a_genre_asked_for_or_constrained_is_a_filter(messages):
    n = _said(*messages)
    assert n.include_genres and not n.prefer_genres and not set(n.loose_genres) - set(n.include_genres)
    assert n.liked == ((6,) if "#2" in messages[-1] else ())


@pytest.mark.parametrize(
    ("messages", "liked", "genre"),
    [
        (("I like horror movies",), (7,), "Horror"),  # "I like horror movies, like Get Out"
        (("any good comedies?",), (7,), "Comedy"),  # "any good comedies? I loved Superbad"
        (("I love comedies", "hi"), (7,), "Comedy"),  # a taste said first, a liked film later
        (("hello", "I'm a big fan of horror"), (7,), "Horror"),
    ],
)
def test_a_genre_said_beside_liked_films_is_a_preference(messages, liked, genre):
    n = _said(*messages, liked=liked)
    assert (n.include_genres, n.loose_genres, n.prefer_genres) == ((), (genre,), ())


@pytest.mark.parametrize(
    "message", ["a similar animated film", "animated films like that one", "有什么差不多的动画", "还有类似的动画片吗"]
)
def test_a_genre_said_as_the_kind_the_likeness_asks_for_stays_a_filter_beside_liked_films(message):
    n = _said(message, liked=(7,))  # "有什么和《千与千寻》差不多的动画": animated films like Spirited Away
    assert (n.include_genres, n.loose_genres, n.liked) == (("Animation",), (), (7,))


def test_a_constraint_beside_liked_films_stays_a_filter_and_replaces_the_preference():
    n = _said("I like horror movies", liked=(7,))
    n = merge(n, NeedsUpdate(include_genres=("Comedy",), genres_as="constraint"), [], {})  # "only comedies"
    assert (n.include_genres, n.loose_genres) == (("Comedy",), ())
    n = merge(n, NeedsUpdate(include_genres=("Drama",)), [], {})  # "a drama", with a liked film: preferred
    assert (n.include_genres, n.loose_genres) == ((), ("Drama",))
    n = merge(n, NeedsUpdate(disliked=(7,)), [], {})  # nothing liked any more: the only thing to go on
    assert (n.include_genres, n.loose_genres) == (("Drama",), ("Drama",))


ANIMATED = {5: ("Animation", "Children"), 6: ("Animation",), 7: ("Action", "Thriller"), 8: ()}


@pytest.mark.parametrize(
    ("first", "liked", "loosened"),
    [
        ("an animated film", (7,), True),  # then "I loved Die Hard": the liked film carries the request
        ("an animated film", (5, 7), True),  # one liked film without it is enough
        ("an animated film", (5,), False),  # a liked film that has it: the request stands
        ("an animated film", (8,), False),  # genres unknown: nothing says it lacks one
        ("only animated films", (7,), False),  # a constraint stays a filter
        ("an animated film from the 90s", (7,), False),  # years in the same message constrain too
    ],
)
def test_a_genre_asked_for_first_turns_loose_when_a_later_liked_film_lacks_it(first, liked, loosened):
    s = Session()
    s.apply(parse_rules(first, MOVIELENS_GENRES), {})
    s.record(first, [5, 6])
    assert s.needs.include_genres == ("Animation",) and not s.needs.loose_genres
    s.apply(NeedsUpdate(liked=liked), {}, ANIMATED)
    expected = ((), ("Animation",)) if loosened else (("Animation",), ())
    assert (s.needs.include_genres, s.needs.loose_genres) == expected
    s.apply(NeedsUpdate(disliked=liked), {}, ANIMATED)  # nothing liked any more: the genre filters again
    assert s.needs.include_genres == ("Animation",)


def test_more_like_a_shown_film_keeps_a_genre_asked_for_first():
    s = Session()
    s.apply(parse_rules("an animated film", MOVIELENS_GENRES), {})
    s.record("an animated film", [5, 6])
    s.apply(parse_rules("more like #2", MOVIELENS_GENRES), {}, ANIMATED)
    assert (s.needs.liked, s.needs.include_genres, s.needs.asked_genres) == ((6,), ("Animation",), ("Animation",))
    s.apply(NeedsUpdate(liked=(7,)), {}, ANIMATED)  # a later liked film without it still loosens it
    assert (s.needs.include_genres, s.needs.loose_genres) == ((), ("Animation",))
    relaxed = Session()  # a list relaxed for want of animated films: its #2, without the genre, loosens nothing
    relaxed.apply(parse_rules("an animated film", MOVIELENS_GENRES), {})
    relaxed.record("an animated film", [5, 7])
    relaxed.apply(parse_rules("more like #2", MOVIELENS_GENRES), {}, ANIMATED)
    assert (relaxed.needs.liked, relaxed.needs.include_genres, relaxed.needs.loose_genres) == ((7,), ("Animation",), ())


def test_a_taste_said_before_any_liked_film_survives_a_session_file(tmp_path):
    s = Session(needs=_said("I love westerns"))
    assert (s.needs.include_genres, s.needs.loose_genres) == (("Western",), ("Western",))
    s.save(tmp_path / "s.json")
    s = Session.load(tmp_path / "s.json")
    s.apply(NeedsUpdate(liked=(3,)), {})
    assert (s.needs.include_genres, s.needs.loose_genres) == ((), ("Western",))
