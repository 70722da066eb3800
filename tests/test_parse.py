"""Message -> NeedsUpdate: the rules in English and Chinese, and the checked LLM parse."""

from __future__ import annotations

import doctest
import re
from datetime import date
from importlib import resources
from typing import Any

import pytest

import convrec.parse.rules
from convrec.core.errors import LLMError
from convrec.core.types import Item, NeedsUpdate
from convrec.data.titles import TitleMatcher
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.model import (
    merge_llm,
    needs_schema,
    parse_llm,
    render_prompt,
    worth_asking_llm,
)
from convrec.parse.rules import keywords_of, parse_rules
from convrec.testing import FakeLLM

GENRES = MOVIELENS_GENRES
CATALOGUE = [
    Item(1, "Toy Story", 1995, ("Animation", "Children", "Comedy"), popularity=215),
    Item(2, "Heat", 1995, ("Action", "Crime", "Thriller"), popularity=102),
    Item(3, "Ronin", 1998, ("Action", "Crime"), popularity=40),
    Item(4, "Scary Movie", 2000, ("Comedy", "Horror"), popularity=40),
    Item(5, "Titanic", 1997, ("Drama", "Romance"), popularity=140),
    Item(6, "Star Wars: Episode IV - A New Hope", 1977, ("Action", "Sci-Fi"), popularity=251),
    Item(7, "It", 2017, ("Horror",), popularity=30),
    Item(8, "Up", 2009, ("Animation", "Children"), popularity=105),
    Item(9, "Alien", 1979, ("Horror", "Sci-Fi"), popularity=146),
]
TITLES = TitleMatcher(CATALOGUE)
PROMPT = "Turn a {domain} request into JSON. Genres: {genres}."


def rules(text: str, **kw: Any) -> NeedsUpdate:
    return parse_rules(text, GENRES, TITLES, now_year=2026, **kw)


def fields(u: NeedsUpdate) -> dict[str, Any]:
    """The fields a test compares: everything said, without the echo of the text (how its genres
    were said has its own test below)."""
    return {
        k: v
        for k, v in u.__dict__.items()
        if k not in ("text", "language", "source", "keywords", "about", "genres_as") and v not in ((), None, False)
    }


def test_doctests() -> None:
    assert doctest.testmod(convrec.parse.rules).failed == 0


# (message, expected fields; anything not named must be empty)
CASES_EN: list[tuple[str, dict[str, Any]]] = [
    (
        "a funny 90s movie, nothing with horror",
        dict(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999),
    ),
    ("older, from the 80s", dict(older=True, year_min=1980, year_max=1989)),
    ("a western before 1970", dict(include_genres=("Western",), year_max=1969)),
    ("more like #2", dict(more_like=(2,))),
    ("more like number 2", dict(more_like=(2,))),
    ("like the second one", dict(more_like=(2,))),
    ("I loved the first one", dict(more_like=(1,))),
    ("more like #2 and #3", dict(more_like=(2, 3))),
    ("less like #2", dict(less_like=(2,))),
    ("not like #3", dict(less_like=(3,))),
    ("not that one (#2)", dict(less_like=(2,))),
    ("more like #1, not #3", dict(more_like=(1,), less_like=(3,))),
    ("no more horror", dict(exclude_genres=("Horror",))),
    ("no horror", dict(exclude_genres=("Horror",))),
    ("not horror", dict(exclude_genres=("Horror",))),
    ("nothing scary", dict(exclude_genres=("Horror",))),
    ("without horror", dict(exclude_genres=("Horror",))),
    ("I don't want horror", dict(exclude_genres=("Horror",))),
    ("I don't like horror", dict(exclude_genres=("Horror",))),
    ("avoid horror", dict(exclude_genres=("Horror",))),
    ("anything but horror", dict(exclude_genres=("Horror",))),
    ("I hate horror", dict(exclude_genres=("Horror",))),
    ("not too scary", dict(avoid_genres=("Horror",))),  # a preference, not a filter
    ("non-horror please", dict(exclude_genres=("Horror",))),
    ("I'm not in the mood for horror", dict(exclude_genres=("Horror",))),
    ("not too scary comedy", dict(include_genres=("Comedy",), avoid_genres=("Horror",))),
    ("less romance, more action", dict(include_genres=("Action",), avoid_genres=("Romance",))),
    ("isn't there a good comedy from the 90s?", dict(include_genres=("Comedy",), year_min=1990, year_max=1999)),
    ("is there a comedy without romance?", dict(include_genres=("Comedy",), exclude_genres=("Romance",))),
    ("some non-stop action please", dict(include_genres=("Action",))),
    ("I don't know maybe a comedy", dict(include_genres=("Comedy",))),
    ("why not a comedy", dict(include_genres=("Comedy",))),
    ("adventure yes, fantasy no", dict(include_genres=("Adventure",), exclude_genres=("Fantasy",))),
    ("no horror. actually, horror is fine", dict(include_genres=("Horror",))),  # a contrast revises
    ("I don't like scary movies. The last scary movie I saw was awful", dict(exclude_genres=("Horror",))),
    ("I didn't like the horror you showed, give me a comedy", dict(include_genres=("Comedy",))),
    ("i dont want horror", dict(exclude_genres=("Horror",))),  # apostrophes are optional
    ("a comedy that isnt too scary", dict(include_genres=("Comedy",), avoid_genres=("Horror",))),
    ("funny but not scary", dict(include_genres=("Comedy",), exclude_genres=("Horror",))),
    ("no horror or thriller", dict(exclude_genres=("Horror", "Thriller"))),
    ("no horror, thriller is fine", dict(include_genres=("Thriller",), exclude_genres=("Horror",))),
    ("No I want a comedy", dict(include_genres=("Comedy",))),
    ("I hate horror movies but love comedies", dict(include_genres=("Comedy",), exclude_genres=("Horror",))),
    (
        "I don't really like horror, I want a rom-com",
        dict(include_genres=("Romance", "Comedy"), exclude_genres=("Horror",)),
    ),
    ("not sure, maybe a comedy", dict(include_genres=("Comedy",))),
    ("a hilarious comedy, funny and scary and not scary", dict(include_genres=("Comedy",), exclude_genres=("Horror",))),
    ("an animated film for kids", dict(include_genres=("Animation", "Children"))),
    ("science fiction set in space", dict(include_genres=("Sci-Fi",))),
    ("a sci-fi thriller", dict(include_genres=("Sci-Fi", "Thriller"))),
    ("a detective whodunit", dict(include_genres=("Mystery",))),
    ("a gangster heist film", dict(include_genres=("Crime",))),
    ("a romantic love story", dict(include_genres=("Romance",))),
    ("a film noir", dict(include_genres=("Film-Noir",))),
    ("a war documentary", dict(include_genres=("War", "Documentary"))),
    ("a musical fantasy", dict(include_genres=("Musical", "Fantasy"))),
    ("an IMAX adventure", dict(include_genres=("IMAX", "Adventure"))),
    ("a serious drama", dict(include_genres=("Drama",))),
    ("90s action", dict(include_genres=("Action",), year_min=1990, year_max=1999)),
    ("'90s action", dict(include_genres=("Action",), year_min=1990, year_max=1999)),
    ("1990s thrillers", dict(include_genres=("Thriller",), year_min=1990, year_max=1999)),
    ("something from the nineties", dict(year_min=1990, year_max=1999)),
    ("the eighties", dict(year_min=1980, year_max=1989)),
    ("from the 80s", dict(year_min=1980, year_max=1989)),
    ("the late 80s", dict(year_min=1985, year_max=1989)),
    ("films from the early 2000s", dict(year_min=2000, year_max=2004)),
    ("movies from the 80s or 90s", dict(year_min=1980, year_max=1999)),
    ("before 1970", dict(year_max=1969)),
    ("pre-1970 westerns", dict(include_genres=("Western",), year_max=1969)),
    ("something older than 1970", dict(year_max=1969)),  # a bound, not the critique "older"
    ("until 1970", dict(year_max=1970)),
    ("no later than 1990", dict(year_max=1990)),
    ("after 2000", dict(year_min=2001)),
    ("post-2000 horror", dict(include_genres=("Horror",), year_min=2001)),
    ("since 2000", dict(year_min=2000)),
    ("2000 onwards", dict(year_min=2000)),
    ("after the 80s", dict(year_min=1990)),
    ("before the 80s", dict(year_max=1979)),
    ("between 1980 and 1990", dict(year_min=1980, year_max=1990)),
    ("1980-1990", dict(year_min=1980, year_max=1990)),
    ("a comedy from 2010 to 2015", dict(include_genres=("Comedy",), year_min=2010, year_max=2015)),
    ("from 1995", dict(year_min=1995, year_max=1995)),
    ("in 1995", dict(year_min=1995, year_max=1995)),
    ("a 1995 thriller", dict(include_genres=("Thriller",), year_min=1995, year_max=1995)),
    ("around 1995", dict(year_min=1993, year_max=1997)),
    ("90s movies after 1995", dict(year_min=1996, year_max=1999)),
    ("not from the 80s", {}),  # a negated decade is dropped, not inverted
    ("nothing scary from the 90s", dict(exclude_genres=("Horror",), year_min=1990, year_max=1999)),
    ("recent sci-fi movies", dict(include_genres=("Sci-Fi",), year_min=2021)),
    ("the latest releases", dict(year_min=2021)),
    ("recent films from the 90s", dict(year_min=1990, year_max=1999)),  # explicit years win
    ("something new", {}),  # novelty, not release time
    ("something more recent", dict(newer=True)),
    ("a newer one", dict(newer=True)),
    ("older", dict(older=True)),
    ("something earlier please", dict(older=True)),
    ("an old western", dict(include_genres=("Western",), year_max=1979)),
    ("a classic comedy", dict(include_genres=("Comedy",))),  # "classic" sets no year
    ("a movie for my 5 year old", {}),
    ("start over", dict(reset=True)),
    ("reset", dict(reset=True)),
    ("forget that", dict(reset=True)),
    ("new search: war films", dict(reset=True, include_genres=("War",))),
    ("a funny movie like Toy Story", dict(include_genres=("Comedy",), liked=(1,))),
    ("something like a 90s comedy", dict(include_genres=("Comedy",), year_min=1990, year_max=1999)),
    ("I liked Heat and Ronin", dict(liked=(2, 3))),
    ("I hated Heat and Ronin", dict(disliked=(2, 3))),
    ("I didn't like Heat", dict(disliked=(2,))),
    ("nothing like Titanic, something funny", dict(disliked=(5,), include_genres=("Comedy",))),
    ("not like Titanic", dict(disliked=(5,))),
    (
        'unlike "Titanic", something lighter',
        dict(disliked=(5,), prefer_genres=("Comedy",), avoid_genres=("Horror", "War", "Thriller", "Crime")),
    ),
    ("like Heat but not like Titanic", dict(liked=(2,), disliked=(5,))),
    ("why not something like Titanic", dict(liked=(5,))),  # "why not" negates nothing
    ("I don't know, maybe something like Heat", dict(liked=(2,))),
    ("I like Scary Movie", dict(liked=(4,))),  # the title's "Scary" is not the genre
    ("movies like Star Wars but with more romance", dict(liked=(6,), include_genres=("Romance",))),
    ("I'd like it to be funny", dict(include_genres=("Comedy",))),  # "it" is not the film It
    ("", {}),
]

CASES_ZH: list[tuple[str, dict[str, Any]]] = [
    (
        "推荐几部九十年代的喜剧，不要恐怖片",
        dict(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999),
    ),
    (
        "推薦幾部九十年代的喜劇，不要恐怖片",
        dict(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999),
    ),
    ("更老一点的", dict(older=True)),
    ("早一点的", dict(older=True)),
    ("新一点的", dict(newer=True)),
    ("更像第二个", dict(more_like=(2,))),
    ("像第2部那样", dict(more_like=(2,))),
    ("不要第二个那种", dict(less_like=(2,))),
    ("不要恐怖片", dict(exclude_genres=("Horror",))),
    ("别太吓人", dict(avoid_genres=("Horror",))),
    ("別太嚇人的動畫", dict(include_genres=("Animation",), avoid_genres=("Horror",))),
    ("不想看恐怖片", dict(exclude_genres=("Horror",))),
    ("我不喜欢战争片", dict(exclude_genres=("War",))),
    ("除了恐怖片以外都行", dict(exclude_genres=("Horror",))),
    ("没有恐怖的", dict(exclude_genres=("Horror",))),
    ("不要太吓人的喜剧", dict(include_genres=("Comedy",), avoid_genres=("Horror",))),
    ("恐怖片免了", dict(exclude_genres=("Horror",))),
    ("兒童片和動畫片都不要", dict(exclude_genres=("Children", "Animation"))),
    ("难道没有好看的喜剧吗？", dict(include_genres=("Comedy",))),
    ("有没有不带爱情的喜剧？", dict(include_genres=("Comedy",), exclude_genres=("Romance",))),
    ("除了喜剧，我还想看动画片", dict(include_genres=("Comedy", "Animation"))),
    ("别的喜剧", dict(include_genres=("Comedy",))),  # 别的 is "other", not "don't"
    ("不要恐怖片和惊悚片", dict(exclude_genres=("Horror", "Thriller"))),
    ("有没有好笑的喜剧", dict(include_genres=("Comedy",))),  # 有没有 is a question, not a negation
    ("特别好笑的", dict(include_genres=("Comedy",))),  # 特别 holds 别 but negates nothing
    ("惊悚片", dict(include_genres=("Thriller",))),
    ("恐怖片", dict(include_genres=("Horror",))),
    ("动作冒险", dict(include_genres=("Action", "Adventure"))),
    ("适合亲子看的动画", dict(include_genres=("Children", "Animation"))),
    ("科幻", dict(include_genres=("Sci-Fi",))),
    ("浪漫的爱情片", dict(include_genres=("Romance",))),
    ("纪录片", dict(include_genres=("Documentary",))),
    ("西部片", dict(include_genres=("Western",))),
    ("歌舞片", dict(include_genres=("Musical",))),
    ("悬疑推理", dict(include_genres=("Mystery",))),
    ("黑帮犯罪片", dict(include_genres=("Crime",))),
    ("奇幻魔幻", dict(include_genres=("Fantasy",))),
    ("剧情片", dict(include_genres=("Drama",))),
    ("黑色电影", dict(include_genres=("Film-Noir",))),
    ("90年代", dict(year_min=1990, year_max=1999)),
    ("八十年代", dict(year_min=1980, year_max=1989)),
    ("80年代的动作片", dict(include_genres=("Action",), year_min=1980, year_max=1989)),
    ("九十年代初的爱情片", dict(include_genres=("Romance",), year_min=1990, year_max=1994)),
    ("1970年以前", dict(year_max=1969)),
    ("1970年之前的西部片", dict(include_genres=("Western",), year_max=1969)),
    ("2000年以后", dict(year_min=2000)),
    ("2000年之后的科幻", dict(include_genres=("Sci-Fi",), year_min=2000)),
    ("1980到1990年", dict(year_min=1980, year_max=1990)),
    ("1995年的", dict(year_min=1995, year_max=1995)),
    ("1995年左右的", dict(year_min=1993, year_max=1997)),
    ("最近的科幻片", dict(include_genres=("Sci-Fi",), year_min=2021)),
    ("新片", dict(year_min=2021)),
    ("老电影", dict(year_max=1979)),
    ("经典老片", dict(year_max=1979)),
    ("重新开始", dict(reset=True)),
    ("重来", dict(reset=True)),
    ("换个话题，来点科幻", dict(reset=True, include_genres=("Sci-Fi",))),
    ("我喜欢Toy Story和Heat，不要恐怖片", dict(liked=(1, 2), exclude_genres=("Horror",))),
    ("像《Titanic》那样的爱情片", dict(liked=(5,), include_genres=("Romance",))),
]


@pytest.mark.parametrize("text, expected", CASES_EN + CASES_ZH, ids=[t or "empty" for t, _ in CASES_EN + CASES_ZH])
def test_parse_rules(text: str, expected: dict[str, Any]) -> None:
    u = rules(text)
    assert fields(u) == expected
    assert u.text == text.strip()
    assert u.source == "rules"
    assert not set(u.include_genres) & set(u.exclude_genres)


@pytest.mark.parametrize(
    "text, language",
    [("a funny movie", "en"), ("推荐几部喜剧", "zh"), ("我喜欢Toy Story", "zh"), ("推薦幾部喜劇", "zh"), ("", "en")],
)
def test_language(text: str, language: str) -> None:
    assert rules(text).language == language


@pytest.mark.parametrize(
    "text, keywords",
    [
        ("a movie about time travel with robots", ("time", "travel", "robots")),
        ("a funny 90s movie, nothing with horror", ()),
        ("something like Heat set in Paris", ("paris",)),  # the title is not a keyword
        ("heist movies in Tokyo with Keanu Reeves", ("tokyo", "keanu", "reeves", "heist")),  # a topic naming a genre
        ("我想看关于时间旅行的电影", ("时间旅行", "time travel")),  # a Chinese topic: the words said, then in English
        ("推荐几部九十年代的喜剧，不要恐怖片", ()),
        (
            "一些关于太空探索和外星人的科幻电影",
            ("太空探索", "外星人", "space travel", "astronaut", "space", "aliens", "alien invasion"),
        ),
        ("a drama set in a café in Zürich", ("café", "zürich")),  # accented words stay whole
        ("light and silly, nothing serious", ()),  # a negated word is no keyword
    ],
)
def test_keywords(text: str, keywords: tuple[str, ...]) -> None:
    assert rules(text).keywords == keywords


def test_text_is_kept_stripped() -> None:
    assert rules("  a comedy please \n").text == "a comedy please"


def test_only_genres_in_the_vocabulary() -> None:
    u = parse_rules("a funny scary western, no romance", ("Comedy", "Western"))
    assert (u.include_genres, u.exclude_genres) == (("Comedy", "Western"), ())


def test_vocabulary_spelling_is_used() -> None:
    u = parse_rules("a sci-fi comedy", ("comedy", "sci-fi"))
    assert u.include_genres == ("sci-fi", "comedy")


def test_without_titles_no_titles() -> None:
    u = parse_rules("a funny movie like Toy Story", GENRES)
    assert (u.liked, u.include_genres) == ((), ("Comedy",))
    assert "toy" in u.keywords  # unresolved, the title's words are left for retrieval


def test_now_year_moves_recent() -> None:
    assert parse_rules("recent comedies", GENRES, now_year=2030).year_min == 2025
    assert parse_rules("the 20s", GENRES, now_year=2026).year_min == 2020
    assert parse_rules("the 20s", GENRES, now_year=2015).year_min == 1920


def test_implausible_years_are_ignored() -> None:
    assert rules("a 2099 release").year_min is None
    assert rules("top 100 movies").year_min is None


@pytest.mark.parametrize(
    "text",
    [
        "the 2090s",
        "a comedy from the 2090s",
        "2090年代的喜剧",
        "the 2030s",
        "the 1870s",
        "a 2027 release",
        "after 2030",
    ],
)
def test_a_decade_or_year_that_has_not_begun_or_is_too_old_sets_no_bound(text: str) -> None:
    u = rules(text)  # in 2026
    assert (u.year_min, u.year_max) == (None, None)
    assert u.include_genres == (("Comedy",) if "comedy" in text or "喜剧" in text else ())


def test_a_decade_is_checked_against_the_current_year() -> None:
    assert parse_rules("the late 2020s", GENRES, now_year=2024).year_min is None
    u = parse_rules("the late 2020s", GENRES, now_year=2026)
    assert (u.year_min, u.year_max) == (2025, 2029)
    u = rules("the 1880s and this year, 2026")
    assert (u.year_min, u.year_max) == (1880, 2026)


# --------------------------------------------------------------------------------------------
# parse_llm
# --------------------------------------------------------------------------------------------


def reply(**kw: Any) -> dict[str, Any]:
    """A full answer in the schema's shape, empty except for `kw`."""
    base: dict[str, Any] = dict(
        include_genres=[],
        exclude_genres=[],
        year_min=None,
        year_max=None,
        liked_titles=[],
        disliked_titles=[],
        keywords=[],
    )
    base.update(kw)
    return base


def llm_parse(text: str, *replies: Any, titles: TitleMatcher | None = TITLES) -> tuple[NeedsUpdate, FakeLLM]:
    llm = FakeLLM(*replies)
    u = parse_llm(text, llm, GENRES, titles, rules(text), prompt=PROMPT)
    return u, llm


def test_llm_good_answer_is_merged() -> None:
    text = "something for date night like Titanic, about time travel"
    u, llm = llm_parse(text, reply(include_genres=["Romance"], liked_titles=["Titanic"], keywords=["time travel"]))
    assert u.source == "llm+rules"
    assert (u.include_genres, u.prefer_genres) == ((), ())  # "date night" names no genre: a guess is dropped
    assert u.liked == (5,)
    assert u.keywords[0] == "time travel"
    sent = llm.history[0]
    assert sent["messages"][0]["content"] == f"Turn a movie request into JSON. Genres: {', '.join(GENRES)}."
    assert sent["messages"][1] == {"role": "user", "content": text}
    assert sent["schema"]["properties"]["include_genres"]["items"]["enum"] == list(GENRES)


def test_llm_adds_a_title_the_rules_missed() -> None:
    text = "Titanic made me cry"  # no cue: the rules do not look for it
    assert rules(text).liked == ()
    u, _ = llm_parse(text, reply(liked_titles=["Titanic"]))
    assert u.liked == (5,)


def test_llm_invented_title_is_rejected() -> None:
    u, _ = llm_parse("a funny movie for tonight", reply(include_genres=["Comedy"], liked_titles=["Toy Story", "Heat"]))
    assert u.liked == ()
    assert u.include_genres == ("Comedy",)


def test_llm_title_outside_catalogue_is_rejected() -> None:
    u, _ = llm_parse("I loved Inception", reply(liked_titles=["Inception"]))
    assert u.liked == ()


def test_llm_short_title_needs_more_than_a_pronoun() -> None:
    u, _ = llm_parse("I liked it a lot", reply(liked_titles=["It"]))
    assert u.liked == ()


def test_llm_titles_need_a_catalogue() -> None:
    u, _ = llm_parse("Titanic made me cry", reply(liked_titles=["Titanic"]), titles=None)
    assert u.liked == ()


def test_llm_disliked_title() -> None:
    u, _ = llm_parse("Titanic was too sappy", reply(disliked_titles=["Titanic"], liked_titles=["Titanic"]))
    assert (u.liked, u.disliked) == ((), (5,))


def test_llm_copied_years_are_rejected() -> None:
    u, _ = llm_parse("a funny movie", reply(include_genres=["Comedy"], year_min=1990, year_max=1999))
    assert (u.year_min, u.year_max) == (None, None)
    assert u.include_genres == ("Comedy",)


def test_llm_years_the_text_supports_are_kept() -> None:
    text = "the one that won best picture in the year nineteen-ninety-four, 1994"
    u, _ = llm_parse(text, reply(year_min=1994, year_max=1994))
    assert (u.year_min, u.year_max) == (1994, 1994)


def test_llm_year_that_has_not_begun_is_rejected() -> None:
    next_year = date.today().year + 1
    u, _ = llm_parse(f"a film from {next_year}", reply(year_min=next_year, year_max=next_year))
    assert (u.year_min, u.year_max) == (None, None)


def test_rules_years_win_over_the_llm() -> None:
    u, _ = llm_parse("a comedy from the 80s, maybe 1990", reply(year_min=1990, year_max=1990))
    assert (u.year_min, u.year_max) == (1980, 1990)


def test_llm_genre_outside_vocabulary_is_dropped() -> None:
    u, _ = llm_parse("a superhero movie", reply(include_genres=["Superhero", "action", 7]))
    assert (u.include_genres, u.prefer_genres) == ((), ())


def test_an_llm_genre_the_message_names_is_a_filter() -> None:
    vocabulary = ["Subject Astronomy", "Subject Physics", "Subject Ethics", "Level Beginner"]
    text = "an easy course about the stars and astronomy"
    data = {"include_genres": ["Subject Astronomy", "Level Beginner"], "keywords": ["stars"]}
    u = merge_llm(parse_rules(text, vocabulary), data, text, vocabulary, None)
    assert (u.include_genres, u.prefer_genres) == (("Subject Astronomy",), ())  # "easy" names no level


def test_llm_cannot_include_a_negated_genre() -> None:
    u, _ = llm_parse("a funny movie, nothing scary", reply(include_genres=["Comedy", "Horror"], exclude_genres=[]))
    assert u.include_genres == ("Comedy",)
    assert u.exclude_genres == ("Horror",)


def test_llm_exclusions_need_a_negation_in_the_text() -> None:
    u, _ = llm_parse("a funny movie", reply(include_genres=["Comedy"], exclude_genres=["Horror"]))
    assert u.exclude_genres == ()
    u, _ = llm_parse("a funny movie, no gore", reply(exclude_genres=["Horror", "Comedy"]))
    assert u.exclude_genres == ("Horror",)  # never a genre the rules saw asked for
    assert u.include_genres == ("Comedy",)


def test_llm_keywords_must_be_in_the_text() -> None:
    u, _ = llm_parse("a heist in Paris", reply(keywords=["heist", "PARIS", "Louvre", "x" * 50]))
    assert u.keywords == ("PARIS", "heist")  # "heist" names the genre (Crime) and the topic; no "Louvre" in the text


def test_llm_keywords_drop_titles_numbers_and_stop_words() -> None:
    u, _ = llm_parse("like Heat but in the 80s, slow burn", reply(keywords=["Heat", "80s", "movie", "slow burn"]))
    assert u.keywords[0] == "slow burn"
    assert not {"heat", "80s", "movie"} & {k.casefold() for k in u.keywords}


def test_llm_english_keywords_for_chinese_text() -> None:
    u, _ = llm_parse("我想看关于时间旅行的电影", reply(keywords=["time travel", "时间旅行", "太空"]))
    assert u.keywords == ("time travel", "时间旅行")  # the model's words, then the lexicon's (the same phrase)
    assert u.language == "zh"


def test_llm_keeps_rules_critiques_and_reset() -> None:
    u, _ = llm_parse("start over, older and more like #2", reply(include_genres=["Drama"], year_min=1980))
    assert (u.reset, u.older, u.more_like) == (True, True, (2,))
    assert u.include_genres == ()  # nothing in the message is left for a genre to explain
    assert u.year_min is None


def test_llm_genres_copied_from_the_prompt_are_rejected() -> None:
    u, _ = llm_parse("something cosy for a rainy day", reply(include_genres=["Action", "Adventure", "Animation"]))
    assert u.include_genres == ()


def test_llm_genres_the_message_does_not_name_are_dropped() -> None:
    u, _ = llm_parse("something about time travel", reply(include_genres=["Sci-Fi", "Thriller", "Fantasy"]))
    assert (u.include_genres, u.prefer_genres) == ((), ())
    u, _ = llm_parse("a funny movie for date night", reply(include_genres=["Comedy", "Romance", "Drama"]))
    assert (u.include_genres, u.prefer_genres) == (("Comedy",), ())
    assert not {"Romance", "Drama"} & set(u.keywords)


def test_llm_adds_no_exclusion_when_the_rules_found_one() -> None:
    u, _ = llm_parse("a funny movie, nothing scary", reply(exclude_genres=["Horror", "Thriller"]))
    assert u.exclude_genres == ("Horror",)


@pytest.mark.parametrize(
    "text, worth",
    [
        ("older, from the 80s", False),
        ("推荐几部九十年代的喜剧，不要恐怖片", False),
        ("more like #2", False),
        ("a funny movie, nothing with horror", False),
        ("something for date night", True),
        ("我想看关于时间旅行的电影", True),
        ("Titanic made me cry", True),
    ],
)
def test_worth_asking_llm(text: str, worth: bool) -> None:
    assert worth_asking_llm(rules(text)) is worth


@pytest.mark.parametrize(
    "bad",
    [
        "not json at all",
        '{"include_genres": ["Comedy"',
        "[1, 2]",
        "",
        LLMError("timed out"),
        RuntimeError("backend crashed"),
    ],
)
def test_llm_failure_gives_the_rules(bad: Any) -> None:
    text = "a funny 90s movie, nothing with horror"
    u, _ = llm_parse(text, bad)
    assert u == rules(text)
    assert u.source == "rules"


def test_llm_empty_queue_gives_the_rules() -> None:
    u, _ = llm_parse("a comedy")
    assert u.source == "rules"


def test_llm_tolerates_fences_strings_and_missing_keys() -> None:
    text = "a 1995 thriller"
    u, _ = llm_parse(text, '```json\n{"include_genres": "Thriller", "year_min": "1995"}\n```')
    assert u.source == "llm+rules"
    assert (u.include_genres, u.year_min, u.year_max) == (("Thriller",), 1995, 1995)


def test_llm_user_message_is_truncated() -> None:
    text = "comedy " * 200
    _, llm = llm_parse(text, reply())
    assert len(llm.history[0]["messages"][1]["content"]) <= 500


def test_schema_shape() -> None:
    props = needs_schema(GENRES, [1994])["properties"]
    assert list(props) == [
        "include_genres",
        "exclude_genres",
        "year_min",
        "year_max",
        "liked_titles",
        "disliked_titles",
        "keywords",
    ]
    assert props["keywords"]["maxItems"] == 6
    assert needs_schema(["A", "B"])["properties"]["exclude_genres"]["items"]["enum"] == ["A", "B"]


def test_schema_fields_are_optional_and_never_empty() -> None:
    """The model writes only the fields it fills: none is required, and a written one cannot be
    an empty list or a null (so leaving it out is the only way to say nothing)."""
    schema = needs_schema(GENRES, [1994])
    assert "required" not in schema and schema["additionalProperties"] is False
    for name, field in schema["properties"].items():
        if field["type"] == "array":
            assert field["minItems"] == 1, name
        else:
            assert field == {"type": "integer", "enum": [1994]}, name
    assert list(needs_schema([])["properties"]) == ["liked_titles", "disliked_titles", "keywords"]


def test_the_model_is_offered_exclusions_only_where_the_message_negates_what_the_rules_left() -> None:
    for text, offered in [("a good heist movie", False), ("a heist movie, nothing sappy", True), ("no horror", False)]:
        _, llm = llm_parse(text, reply())
        assert ("exclude_genres" in llm.history[0]["schema"]["properties"]) is offered, text


def test_the_model_is_offered_only_the_years_the_message_supports() -> None:
    for text, offered in [
        ("a good heist movie", None),
        ("a 1995 thriller", [1995]),
        ("the 80s", list(range(1980, 1990))),
    ]:
        _, llm = llm_parse(text, reply())
        props = llm.history[0]["schema"]["properties"]
        assert props.get("year_min", {}).get("enum") == offered and props.get("year_max") == props.get("year_min")


def test_prompt_file() -> None:
    template = resources.files("convrec.prompts").joinpath("parse.txt").read_text(encoding="utf-8")
    text = render_prompt(template, GENRES, "movie")
    assert "{" not in text and "Comedy" in text and "movie" in text
    assert len(template.split()) < 90  # about 120 tokens at most
    assert not re.search(r"\d", template)  # no example years for the model to copy


def test_render_prompt_names_an_unknown_placeholder() -> None:
    with pytest.raises(ValueError, match="user"):
        render_prompt("Hello {user}", GENRES)


def test_keywords_of_caps_the_count() -> None:
    assert len(keywords_of(" ".join(f"word{c}" for c in "abcdefghijklmnop"))) == 8


def test_a_year_in_brackets_after_a_quoted_title_belongs_to_the_title() -> None:
    titles = TitleMatcher([Item(1, "American Pie", 1999, ("Comedy",)), Item(2, "American Pie", 1970, ("Drama",))])
    u = parse_rules('I liked "American Pie" (1999)', MOVIELENS_GENRES, titles)
    assert u.liked == (1,) and u.year_min is None and u.year_max is None
    u = parse_rules('I liked "American Pie" (1970), but from the 90s', MOVIELENS_GENRES, titles)
    assert u.liked == (2,) and (u.year_min, u.year_max) == (1990, 1999)


def test_llm_cannot_make_an_avoided_genre_a_filter() -> None:
    text = "a comedy for date night, not too scary"
    u, _ = llm_parse(text, reply(include_genres=["Horror", "Romance"], exclude_genres=["Horror"]))
    assert (u.include_genres, u.exclude_genres, u.avoid_genres) == (("Comedy",), (), ("Horror",))
    u, _ = llm_parse("something for date night, not too scary", reply(include_genres=["Horror", "Romance"]))
    assert (u.include_genres, u.avoid_genres) == ((), ("Horror",))


@pytest.mark.slow
def test_the_real_model_writes_only_the_fields_it_fills(real_llm) -> None:
    from convrec.llm.base import Metered
    from convrec.llm.templates import load_prompt

    prompt = load_prompt("parse", domain="movie", genres=", ".join(MOVIELENS_GENRES))
    text = "a horror film made after 2010"
    metered = Metered(real_llm)
    u = parse_llm(text, metered, MOVIELENS_GENRES, None, rules(text), prompt=prompt)
    assert u.source == "llm+rules" and "Horror" in u.include_genres and u.year_min == rules(text).year_min == 2011
    assert 0 < metered.completion_tokens < 30  # the seven field names alone take more than 40


@pytest.mark.parametrize(
    ("text", "said_as"),
    [
        ("a comedy", "request"),
        ("I'd like a comedy", "request"),
        ("I feel like watching a western", "request"),
        ("any good comedies?", "request"),
        ("I like horror movies", "taste"),
        ("I'm a big fan of horror", "taste"),
        ("我喜欢恐怖片", "taste"),
        ("only comedies", "constraint"),
        ("it has to be a comedy, I love them", "constraint"),
        ("a comedy from the 90s, nothing scary", "constraint"),
        ("只看喜剧", "constraint"),
        ("a similar animated film", "kind"),
        ("animated films like that one", "kind"),
        ("有什么差不多的动画", "kind"),
        ("还有什么类似的动画片？", "kind"),
        ("i like comedy movies like that one", "taste"),  # a taste, with an example
        ("I even like cartoons like that one", "taste"),
    ],
)
def test_how_a_genre_is_said_decides_whether_liked_films_can_soften_it(text, said_as):
    u = parse_rules(text, GENRES)
    assert u.include_genres and u.genres_as == said_as


def test_a_pronoun_or_the_word_subject_is_no_topic():
    assert keywords_of("someone who wakes up with amnesia, anyone?") == ("wakes", "amnesia")
    assert keywords_of("有没有潜艇题材的电影") == ("潜艇",)  # 题材: "subject", said of any topic
