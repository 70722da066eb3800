"""Title resolution: normalisation, `match`, and finding titles in chat text without false hits."""

from __future__ import annotations

import csv
import doctest
import random
import re
from pathlib import Path

import pytest

import convrec.data.titles
from convrec.core.types import Item
from convrec.data.titles import (
    TitleMatcher,
    normalize_title,
    split_year,
    title_occurs,
    title_variants,
)

# MovieLens-style titles, including the awkward ones: trailing articles, alternative titles in
# parentheses, accents, "&", sequels, and short everyday words ("It", "Up", "Her", "Go", "Heat").
CATALOGUE = [
    Item(1, "Toy Story", 1995, popularity=215),
    Item(2, "Toy Story 2", 1999, popularity=97),
    Item(3, "Heat", 1995, popularity=102),
    Item(4, "Heat", 1986, popularity=2),
    Item(5, "Ronin", 1998, popularity=40),
    Item(6, "It", 2017, popularity=30),
    Item(7, "It", 1990, popularity=5),
    Item(8, "Up", 2009, popularity=105),
    Item(9, "Her", 2013, popularity=60),
    Item(10, "Go", 1999, popularity=20),
    Item(11, "Scary Movie", 2000, popularity=40),
    Item(12, "Star Wars: Episode IV - A New Hope", 1977, popularity=251),
    Item(13, "Star Wars: Episode V - The Empire Strikes Back", 1980, popularity=211),
    Item(14, "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il)", 1966, popularity=50),
    Item(15, "Amélie (Fabuleux destin d'Amélie Poulain, Le)", 2001, popularity=120),
    Item(16, "Lord of the Rings: The Fellowship of the Ring, The", 2001, popularity=198),
    Item(17, "Shawshank Redemption, The", 1994, popularity=317),
    Item(18, "Matrix, The", 1999, popularity=278),
    Item(19, "Fast & Furious (Fast and the Furious 4, The)", 2009, popularity=10),
    Item(20, "Seven (a.k.a. Se7en)", 1995, popularity=203),
    Item(21, "Some Like It Hot", 1959, popularity=46),
    Item(22, "Alien", 1979, popularity=146),
    Item(23, "Aliens", 1986, popularity=126),
    Item(24, "Jumanji", 1995, popularity=110),
    Item(25, "Godfather, The", 1972, popularity=192),
    Item(26, "Godfather: Part II, The", 1974, popularity=129),
    Item(27, "Rocky II", 1979, popularity=10),
    Item(28, "Harry Potter and the Sorcerer's Stone", 2001, popularity=107),
    Item(29, "Harry Potter and the Chamber of Secrets", 2002, popularity=102),
    Item(30, "In the Mood For Love (Fa yeung nin wa)", 2000, popularity=10),
    Item(31, "Titanic", 1997, popularity=140),
    Item(32, "Beauty and the Beast", 1991, popularity=142),
    Item(33, "Beauty and the Beast", 2017, popularity=25),
    Item(34, "Unknown Year Film", None, popularity=1),
]


def label(tm: TitleMatcher, item_id: int | None) -> str | None:
    return None if item_id is None else tm.item(item_id).label()


@pytest.fixture(scope="module")
def tm() -> TitleMatcher:
    return TitleMatcher(CATALOGUE)


def test_doctests() -> None:
    assert doctest.testmod(convrec.data.titles).failed == 0


@pytest.mark.parametrize(
    "title, key",
    [
        ("Toy Story", "toy story"),
        ("The Matrix", "matrix"),
        ("Matrix, The", "matrix"),
        ("Amélie", "amelie"),
        ("Schindler's List", "schindlers list"),
        ("Fast & Furious", "fast and furious"),
        ("Star Wars: Episode IV - A New Hope", "star wars episode iv a new hope"),
        ("Cité des enfants perdus, La", "la cite des enfants perdus"),
        ("A", "a"),  # a lone article is kept, not emptied
        ("  WALL·E  ", "wall e"),
        ("", ""),
    ],
)
def test_normalize_title(title: str, key: str) -> None:
    assert normalize_title(title) == key


def test_split_year_and_variants() -> None:
    assert split_year("Toy Story (1995)") == ("Toy Story", 1995)
    assert split_year("Toy Story [1995]") == ("Toy Story", 1995)
    assert split_year("1984") == ("1984", None)  # a title that is a year stays a title
    assert title_variants("Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)") == (
        ["amelie", "le fabuleux destin damelie poulain"],
        [],
    )
    assert title_variants("Godfather: Part II, The") == (["godfather part ii"], [])  # one-word head: no prefix


@pytest.mark.parametrize(
    "query, year, expected",
    [
        ("Toy Story", None, "Toy Story (1995)"),
        ("toy story", None, "Toy Story (1995)"),
        ("Toy Story (1995)", None, "Toy Story (1995)"),
        ("Toy Story 2", None, "Toy Story 2 (1999)"),
        ("Toy Story 3", None, None),  # numbers must agree: not Toy Story 2
        ("Rocky III", None, None),  # nor roman numerals
        ("Toy Storey", None, "Toy Story (1995)"),  # typo
        ("Shawshank Redemtion", None, "Shawshank Redemption, The (1994)"),
        ("The Shawshank Redemption", None, "Shawshank Redemption, The (1994)"),
        ("Heat", None, "Heat (1995)"),  # the more popular of two
        ("Heat", 1986, "Heat (1986)"),  # the year breaks the tie
        ("Heat", 1987, "Heat (1986)"),  # within one year
        ("Heat (1986)", None, "Heat (1986)"),
        ("Heat", 2010, None),  # a given year must agree
        ("It", None, "It (2017)"),
        ("It", 1990, "It (1990)"),
        ("Beauty and the Beast", 2017, "Beauty and the Beast (2017)"),
        ("Godfather", None, "Godfather, The (1972)"),
        ("The Godfather Part II", None, "Godfather: Part II, The (1974)"),
        ("Amelie", None, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)"),
        ("Se7en", None, "Seven (a.k.a. Se7en) (1995)"),
        ("Fast and Furious", None, "Fast & Furious (Fast and the Furious 4, The) (2009)"),
        (
            "The Good, the Bad and the Ugly",
            None,
            "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",
        ),
        (
            "Lord of the Rings: The Fellowship of the Ring",
            None,
            "Lord of the Rings: The Fellowship of the Ring, The (2001)",
        ),
        ("Star Wars", None, "Star Wars: Episode IV - A New Hope (1977)"),  # the part before the colon
        ("Star Wars", 1980, "Star Wars: Episode V - The Empire Strikes Back (1980)"),
        ("Harry Potter", None, "Harry Potter and the Sorcerer's Stone (2001)"),  # a stem: most popular
        ("Unknown Year Film", 1999, "Unknown Year Film"),  # an unknown year cannot disagree
        ("Heal", None, None),  # short titles must match exactly
        ("xyzzy plugh", None, None),
        ("", None, None),
        ("!!!", None, None),
    ],
)
def test_match(tm: TitleMatcher, query: str, year: int | None, expected: str | None) -> None:
    assert label(tm, tm.match(query, year)) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a funny movie like Toy Story", ["Toy Story (1995)"]),
        ("something like a 90s comedy", []),
        ("I liked Heat and Ronin", ["Heat (1995)", "Ronin (1998)"]),
        ("I enjoyed Heat, Ronin and Jumanji", ["Heat (1995)", "Ronin (1998)", "Jumanji (1995)"]),
        ("movies like Up", ["Up (2009)"]),
        ("like Her", ["Her (2013)"]),
        ("I like her movies", []),
        ("I'd like it to be funny", []),
        ("I would like to go out", []),
        ("I liked it a lot", []),
        ("I liked It a lot", ["It (2017)"]),
        ("I like heat", []),  # short everyday word in lower case
        ("I love horror", []),
        ("I like action movies", []),
        ("more like #2", []),
        ("like the second one", []),
        ("more like number 2", []),
        ('I want "Heat"', ["Heat (1995)"]),
        ("I want “Heat (1986)”", ["Heat (1986)"]),
        ("《Toy Story》那样的", ["Toy Story (1995)"]),
        ("'Up' was lovely, don't you think it's", ["Up (2009)"]),
        ("similar to the matrix", ["Matrix, The (1999)"]),
        ("such as Shawshank Redemtion", ["Shawshank Redemption, The (1994)"]),
        ("like Toy Story 2", ["Toy Story 2 (1999)"]),
        ("like Toy Story 3", []),
        ("like Toy Story (1995) and Heat", ["Toy Story (1995)", "Heat (1995)"]),
        ("我喜欢Toy Story和Heat", ["Toy Story (1995)", "Heat (1995)"]),
        ("类似 Jumanji 的电影", ["Jumanji (1995)"]),
        ("I loved Some Like It Hot", ["Some Like It Hot (1959)"]),
        ("like Star Wars", ["Star Wars: Episode IV - A New Hope (1977)"]),
        ("like Amelie", ["Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)"]),
        ("anything with the same vibe as Amélie?", ["Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)"]),
        ("in the style of Heat", ["Heat (1995)"]),
        ("I loved the movie Heat", ["Heat (1995)"]),
        ("like Alien but funnier", ["Alien (1979)"]),
        ("like Aliens", ["Aliens (1986)"]),
        ("Movies like Jumanjii please", ["Jumanji (1995)"]),
        (
            "like The Good, the Bad and the Ugly",
            ["Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)"],
        ),
        ("like Harry Potter", ["Harry Potter and the Sorcerer's Stone (2001)"]),
        ("I'm not in the mood for horror", []),  # no stem match in lower case
        ("nothing like Titanic", ["Titanic (1997)"]),  # found; liked or not is the parser's call
        ("Heat was great", []),  # no cue, no quotes: not looked for
        ("", []),
    ],
)
def test_find_in_text(tm: TitleMatcher, text: str, expected: list[str]) -> None:
    assert [label(tm, i) for i in tm.find_in_text(text)] == expected


def test_find_mentions_reports_spans_and_cues(tm: TitleMatcher) -> None:
    text = "I hated Heat and Ronin, but similar to 'Up' is fine"
    mentions = tm.find_mentions(text)
    assert [(text[m.start : m.end], m.cue) for m in mentions] == [
        ("Heat", "hated"),
        ("Ronin", "hated"),
        ("Up", "quote"),
    ]
    assert mentions[0].cue_start == mentions[1].cue_start == text.index("hated")


@pytest.mark.parametrize(
    "title, text, expected",
    [
        ("Toy Story", "something like toy storey please", True),
        ("Toy Story", "a film about toys", False),
        ("The Matrix", "I loved the matrix", True),
        ("It", "I liked it a lot", False),
        ("It", "I liked It a lot", True),
        ("It", 'I liked "it"', True),
        ("Heat", "I could not stand the heat", False),
        ("Heat", "Heat, please", True),
        ("Titanic", "推荐几部九十年代的喜剧", False),
    ],
)
def test_title_occurs(title: str, text: str, expected: bool) -> None:
    assert title_occurs(title, text) is expected


def synthetic_catalogue(n: int, seed: int = 0) -> list[Item]:
    """n made-up titles from a small vocabulary (many short, everyday words), plus CATALOGUE."""
    rng = random.Random(seed)
    words = (
        "love night city man woman dark house last day life story king war dead blood girl boy time "
        "world secret return lost home summer kill big little good bad black white red go up it her "
        "heat run fire ice star moon sun road river island"
    ).split()
    items = list(CATALOGUE)
    for i in range(n):
        k = rng.choice([1, 1, 2, 2, 3, 4])
        title = " ".join(rng.choice(words) for _ in range(k)).title()
        items.append(Item(1000 + i, title, rng.randint(1920, 2020), popularity=rng.random() * 50))
    return items


def test_large_catalogue_stays_precise() -> None:
    tm = TitleMatcher(synthetic_catalogue(10_000))
    assert tm.find_in_text("something like a 90s comedy") == []
    assert tm.find_in_text("I'd like it to be funny, nothing too dark") == []
    assert [label(tm, i) for i in tm.find_in_text("a funny movie like Toy Story")] == ["Toy Story (1995)"]
    assert [label(tm, i) for i in tm.find_in_text("similar to The Shawshank Redemption")] == [
        "Shawshank Redemption, The (1994)"
    ]


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "movies.csv").exists(), reason="needs ../shared/data/ml-latest-small")
def test_movielens_latest_small() -> None:
    items = []
    with open(SHARED / "movies.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            m = re.search(r"\((\d{4})\)\s*$", row["title"])
            title = row["title"][: m.start()].strip() if m else row["title"]
            items.append(Item(int(row["movieId"]), title, int(m.group(1)) if m else None))
    tm = TitleMatcher(items)
    cases = {
        "a funny movie like Toy Story": ["Toy Story"],
        "something like a 90s comedy": [],
        "I liked Heat and Ronin": ["Heat", "Ronin"],
        "I enjoyed Inception, Memento and Interstellar": ["Inception", "Memento", "Interstellar"],
        "I'd love something like Mission Impossible": ["Mission: Impossible"],
        "I like going to the movies": [],
        "I love you": [],
        "similar to pulp fiction": ["Pulp Fiction"],
    }
    for text, expected in cases.items():
        assert [tm.item(i).title for i in tm.find_in_text(text)] == expected, text
