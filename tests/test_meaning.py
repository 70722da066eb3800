"""Moods, comparisons, Chinese topics and time words: what people mean beyond genre names."""

import pytest

from convrec.chat.session import ERA_YEARS, Session
from convrec.core.types import Needs, NeedsUpdate
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules

from .test_pipeline import make_recommender


@pytest.mark.parametrize(
    ("text", "prefer", "avoid", "exclude"),
    [
        ("something like Inception but funnier", ("Comedy",), (), ()),
        ("像《盗梦空间》但更搞笑", ("Comedy",), (), ()),
        ("like Alien but less scary", (), ("Horror",), ()),
        ("像《异形》但不要那么吓人", (), ("Horror",), ()),
        ("like Toy Story but for adults", (), (), ("Children",)),  # another audience, the same kind of film
        ("like Titanic but with a happy ending", ("Comedy", "Drama"), ("Horror", "War", "Crime", "Thriller"), ()),
        ("like Heat but grittier", ("Crime", "Thriller", "Drama"), ("Comedy", "Children", "Animation"), ()),
        (
            "I had a rough week and want something uplifting",
            ("Comedy", "Drama"),
            ("Horror", "War", "Thriller", "Crime"),
            (),
        ),
        ("来一部烧脑的电影", ("Sci-Fi", "Mystery", "Thriller"), ("Children", "Romance"), ()),
        ("让人感动的电影", ("Drama", "Romance"), ("Comedy", "Horror"), ()),  # a mood in other words
        ("something depressing", ("Drama",), ("Comedy", "Children"), ()),
        ("something intense", ("Thriller", "Action"), ("Comedy", "Children"), ()),
        ("nothing depressing please", (), ("Drama",), ()),  # a negated mood avoids what it would prefer
        ("我不想看压抑的片子", (), ("Drama",), ()),
        ("nothing violent", (), ("Crime", "Thriller", "Action"), ()),
        ("nothing too dark", (), ("Crime", "Thriller", "Drama"), ()),  # a hedge avoids as a negation does
        ("不要太黑暗的", (), ("Crime", "Thriller", "Drama"), ()),
    ],
)
def test_moods_and_comparisons_move_along_genres(text, prefer, avoid, exclude):
    u = parse_rules(text, MOVIELENS_GENRES, now_year=2016)
    assert (u.prefer_genres, u.avoid_genres, u.exclude_genres) == (prefer, avoid, exclude)
    assert u.include_genres == ()


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("a comedy from this century", (2000, None)),
        ("本世纪的动画片", (2000, None)),
        ("sci-fi from the last decade", (2007, 2016)),
        ("近十年的恐怖片", (2007, 2016)),
        ("a western from the last century", (1900, 1999)),
        ("a comedy from the 90s, not from this century", (1990, 1999)),  # explicit years win
    ],
)
def test_time_words_become_year_bounds_relative_to_now(text, years):
    u = parse_rules(text, MOVIELENS_GENRES, now_year=2016)
    assert (u.year_min, u.year_max) == years


def test_chinese_topics_reach_english_keywords():
    assert {"zombie"} <= set(parse_rules("有没有僵尸电影", MOVIELENS_GENRES).keywords)
    assert {"shark"} <= set(parse_rules("关于鲨鱼的电影", MOVIELENS_GENRES).keywords)
    assert {"father son relationship"} <= set(parse_rules("讲父子关系的电影", MOVIELENS_GENRES).keywords)
    assert "space" not in parse_rules("关于宇宙飞船的电影", MOVIELENS_GENRES).keywords  # the longest phrase, not 宇宙


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("想看关于狙击手的电影", {"sniper"}),
        ("双重人格的悬疑片", {"multiple personality"}),
        ("一部关于国际象棋天才的片子", {"chess", "genius"}),  # 国际象棋 whole, not 象棋 alone
        ("有没有万圣节的恐怖片", {"halloween"}),
        ("讲领养孤儿的电影", {"adoption", "orphan"}),
        ("想看无厘头的喜剧", {"slapstick", "spoof"}),  # moods as well
        ("一部唯美的爱情片", {"visually stunning"}),
    ],
)
def test_more_chinese_topics_and_moods_name_their_keywords(text, words):
    assert words <= set(parse_rules(text, MOVIELENS_GENRES).about)


def test_a_preference_lasts_until_another_replaces_it_or_the_genre_is_avoided():
    s = Session()
    needs = s.apply(NeedsUpdate(prefer_genres=("Comedy",)), {})
    assert needs.prefer_genres == ("Comedy",)
    assert s.apply(NeedsUpdate(keywords=("space",)), {}).prefer_genres == ("Comedy",)
    assert s.apply(NeedsUpdate(prefer_genres=("Romance",)), {}).prefer_genres == ("Romance",)
    assert s.apply(NeedsUpdate(avoid_genres=("Romance",)), {}).prefer_genres == ()


def test_a_preferred_genre_ranks_higher_but_filters_nothing():
    rec = make_recommender()
    plain, _ = rec.candidates(Needs(year_min=1990, year_max=1999), Session(), 5, {})
    prefer, _ = rec.candidates(Needs(year_min=1990, year_max=1999, prefer_genres=("Sci-Fi",)), Session(), 5, {})
    assert set(prefer.ids) == set(plain.ids) or len(prefer.ids) == len(plain.ids)

    def first_scifi(cands):
        return next(r for r, i in enumerate(cands.ids) if "Sci-Fi" in rec.catalog.get(int(i)).genres)

    assert first_scifi(prefer) < first_scifi(plain)
    assert any("Sci-Fi" not in rec.catalog.get(int(i)).genres for i in prefer.ids)


def test_older_than_the_liked_film_wins_over_a_generic_old():
    """ "像《黑客帝国》但要年代更早一点的老片": older than The Matrix (Blade Runner, The Terminator), not only
    films before 1980."""
    for text in ("like The Matrix but older, an old film", "类似《黑客帝国》的，但要年代更早一点的老片"):
        u = parse_rules(text, MOVIELENS_GENRES, _titles(), now_year=2016)
        assert u.older and (u.year_min, u.year_max) == (None, None), text
        needs = Session().apply(u, {i: 1999 for i in u.liked})
        assert needs.year_max == 1999 - ERA_YEARS  # another period than The Matrix's


def test_moods_and_topics_name_the_attribute_words_they_mean():
    assert "alien invasion" in parse_rules("外星人入侵地球的电影", MOVIELENS_GENRES, now_year=2016).about
    assert "terminal illness" in parse_rules("让人感动的电影", MOVIELENS_GENRES, now_year=2016).about
    assert not parse_rules("nothing depressing please", MOVIELENS_GENRES, now_year=2016).about
    assert not parse_rules("nothing too dark", MOVIELENS_GENRES, now_year=2016).about
    assert "surreal" in parse_rules("something weird", MOVIELENS_GENRES, now_year=2016).about
    assert "nostalgia" in parse_rules("怀旧的电影", MOVIELENS_GENRES, now_year=2016).about
    u = parse_rules("周末约会想看点浪漫甜蜜的爱情片", MOVIELENS_GENRES, now_year=2016)
    assert "romantic" in u.about and u.include_genres == ("Romance",)


def _titles():
    from convrec.core.types import Item
    from convrec.data.titles import TitleMatcher

    return TitleMatcher([Item(1, "The Matrix", 1999, ("Action", "Sci-Fi"))])


@pytest.mark.shared
def test_the_words_moods_and_chinese_topics_name_are_attributes_of_the_knowledge_tables(shared_data):
    import numpy as np

    from convrec.data.loaders import load_catalog
    from convrec.parse.meaning import MOOD_WORDS, TOPICS_ZH
    from convrec.retrieve.attributes import Attributes

    tables = ["tmdb-5000", "tmdb-top10k", "movies-dataset/keywords.csv", "imdb-5000"]
    items = list(
        load_catalog(shared_data / "ml-latest-small", knowledge=[shared_data / t for t in tables]).items.values()
    )
    names = set(Attributes.from_items(items, np.zeros((len(items), 0))).names)
    said = {
        " ".join(w.replace("-", " ").split()) for words in (*MOOD_WORDS.values(), *TOPICS_ZH.values()) for w in words
    }
    missing = sorted(said - names)  # the others are reached by meaning alone ("cozy" -> heartwarming)
    assert len(missing) <= 0.02 * len(said), missing
