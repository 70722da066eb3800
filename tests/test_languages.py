"""Languages as objects: every registered language renders every reply, question and reason the
renderers ask for, and a third language is one class and one registration."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from convrec.core.types import Item, Needs, Rec, Relaxation
from convrec.lang import (
    LANGUAGES,
    Language,
    decade_digit,
    decade_pattern,
    detect,
    genre_names,
    language,
    render_for,
    vague_words,
    year_pattern,
)
from convrec.lang.en import English
from convrec.parse.lexicon import MOVIELENS_GENRES
from convrec.parse.rules import parse_rules
from convrec.rank.explain import Ties, reasons, ties_of, unsupported_claims
from convrec.rank.reply import template_reply

ITEMS = [
    Item(1, "Heat", 1995, ("Action", "Crime"), tags=("heist",), tag_sources=("viewers",), popularity=9),
    Item(2, "Toy Story", 1995, ("Animation", "Children", "Comedy"), popularity=8),
    Item(3, "Ronin", 1998, ("Action", "Crime", "Thriller"), popularity=5),
    Item(4, "Alien", 1979, ("Horror", "Sci-Fi"), popularity=7),
    Item(5, "Mulan", 1998, ("Animation", "Children"), popularity=3),
]
TITLES = {it.item_id: it.title for it in ITEMS}
# one request of each shape the renderers tell apart
REQUESTS = [
    Needs(),
    Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999),
    Needs(include_genres=("Crime", "Action"), year_min=1995, year_max=1995),
    Needs(year_min=1980, year_max=1985, avoid_genres=("Horror",), prefer_genres=("Comedy",)),
    Needs(year_min=2011),
    Needs(year_max=1969, keywords=("heist", "robbery"), text="a heist, a robbery"),
    Needs(liked=(1, 2, 3, 4), disliked=(5,)),
    Needs(keywords=("qwxyzzy",), text="qwxyzzy"),
]
RELAXATIONS = [
    None,
    Relaxation(0, ("genre:Comedy",), ("genre:Comedy", "years")),
    Relaxation(2, ("years", "exclude:Horror"), ("years",)),
    Relaxation(0, (), ()),
    Relaxation(1, ("exclude:Horror",), ("exclude:Horror", "genre:Comedy")),
]
# seven look-alikes: the contrasts run out, so two reasons tell themselves apart by popularity
LOOKALIKES = [Item(10 + n, f"Film {n}", 1990 + n, ("Comedy",), popularity=10 - n) for n in range(7)]
# ties that use every clause of a reason
TIES = [
    Ties(genres=("Crime",), period="decade", word="heist", field="tags", source="TMDB"),
    Ties(preferred=("Comedy",), period="year", liked="Heat", shared=("Action", "Crime"), same_decade=True),
    Ties(genres=("Crime",), period="range", word="Ronin", field="title", fans="Heat"),
    Ties(near="space", word="Ridley Scott", field="people", misses=("genres", "years", "excluded")),
    Ties(genres=("Animation",), misses=("genres",), word="warrior", field="text", phrase="…a young warrior…"),
]


def rendered(lang: Language) -> list[str]:
    """Every text the renderers write for a grid of requests, relaxations, list sizes and ties, in `lang`."""
    out = []
    for needs in REQUESTS:
        needs = needs.with_(language=lang.code)
        for relax in RELAXATIONS:
            for n in (0, 1, 2, 5):
                recs = [Rec(it, 1.0, "") for it in ITEMS[:n]]
                for ties in (TIES[:n], [Ties()] * n):
                    reply = template_reply(needs, recs, ties, TITLES, relax=relax, unplaced=(7,) if n == 2 else ())
                    out += [reply.text, reply.question or ""]
        out += reasons(ITEMS, needs, TIES)
        out += reasons(LOOKALIKES, needs, [ties_of(it, needs) for it in LOOKALIKES])
        out += reasons(ITEMS, needs, [ties_of(it, needs) for it in ITEMS], render_for(needs, "course"))
    return [t for t in out if t]


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_registered_language_provides_every_table_and_template(code):
    lang = LANGUAGES[code]
    assert lang.code == code and lang.name and not type(lang).__abstractmethods__
    assert set(lang.contrasts) == {"newest", "oldest", "popular", "rare"}
    assert all(lang.genre(g) for g in MOVIELENS_GENRES)
    assert len({lang.number(n) for n in range(11)}) == 11
    texts = rendered(lang)
    assert len(texts) > 300
    assert not [t for t in texts if re.search(r"[{}]|\bNone\b", t)]  # no template left unfilled
    for other in LANGUAGES.values():  # every word comes from this language's own tables
        if other is not lang and other.script is not None:
            assert not [t for t in texts if other.script.search(t)], other.code
    if lang.script is not None:
        assert all(lang.script.search(t) for t in texts)


def test_the_grid_above_uses_every_template_a_language_must_provide(monkeypatch):
    used = set()
    for name in Language.__abstractmethods__:
        method = getattr(English, name)
        monkeypatch.setattr(English, name, lambda self, *a, _n=name, _m=method, **k: used.add(_n) or _m(self, *a, **k))
    rendered(LANGUAGES["en"])
    assert Language.__abstractmethods__ - used == {"steer"}  # read by the rules: checked below


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_each_language_is_detected_and_read_in_its_own_words(code):
    lang = LANGUAGES[code]
    text = template_reply(Needs(include_genres=("Comedy",), language=code), [], [], {}).text
    assert detect(text) == code and parse_rules(text, list(MOVIELENS_GENRES)).language == code
    # a card's buttons speak the conversation's language, and the rules read what they say
    assert parse_rules(lang.steer("more_like", 2), list(MOVIELENS_GENRES)).more_like == (2,)
    assert parse_rules(lang.steer("not_interested", 3), list(MOVIELENS_GENRES)).less_like == (3,)
    # the checker reads its time words: a decade as it writes one, and a year that is no decade
    assert [decade_digit(m) for m in decade_pattern().finditer(lang.period(1980, 1989))] == [8]
    assert year_pattern().findall(lang.period(1980, 1989)) == [] and year_pattern().findall(lang.period(1995, 1995))
    assert len(lang.digits) == 10 and lang.vague_words <= vague_words()


class German(English):
    """A third language, as small as a test can make it: English structure, German words."""

    code = "de"
    name = "German"
    script = re.compile("[äöüßÄÖÜ]")

    def number(self, n: int) -> str:
        return "null eins zwei drei vier fünf sechs sieben acht neun zehn".split()[n] if n <= 10 else str(n)

    def genre(self, genre: str) -> str:
        return {"Comedy": "Komödie", "Horror": "Horror"}.get(genre, genre)

    def join(self, words: Sequence[str], last: str = "and") -> str:
        return super().join(words, {"and": "und", "or": "oder"}[last])

    def period(self, lo: int | None, hi: int | None) -> str:
        return f"aus den {lo}ern" if lo is not None and hi == lo + 9 else super().period(lo, hi)

    def understood(self, needs, when, topic, liked, disliked, noun):  # type: ignore[no-untyped-def]
        kind = "Filme" if noun == "movie" else noun
        return " ".join(x for x in (self.join([self.genre(g) for g in needs.include_genres]), kind, when) if x)

    def understood_head(self, said: str) -> str:
        return f"Verstanden: {said}. "

    def all_of(self, n: int) -> str:
        return "dieser" if n == 1 else "beide" if n == 2 else f"alle {self.number(n)}"

    def fitting(self, n: int, hard: bool, topic: str) -> str:
        return f"{self.all_of(n).capitalize()} {'passt' if n == 1 else 'passen'} genau." if hard else "Passt."


def test_a_third_language_is_one_class_and_one_registration(monkeypatch):
    assert language("de") is LANGUAGES["en"]  # unknown: the default speaks
    monkeypatch.setitem(LANGUAGES, "de", German())
    needs = Needs(include_genres=("Comedy",), year_min=1990, year_max=1999, language="de")
    recs = [Rec(it, 1.0, "") for it in ITEMS]
    reply = template_reply(needs, recs, [ties_of(it, needs) for it in ITEMS], TITLES)
    assert reply.text == "Verstanden: Komödie Filme aus den 1990ern. Alle fünf passen genau."
    assert detect("eine Komödie für Kinder") == "de" and detect("喜剧") == "zh" and detect("a comedy") == "en"
    # the grounding checker reads its genre names too: a German reason may not call Heat a comedy
    assert "Komödie" in genre_names("Comedy")
    assert unsupported_claims("Eine Komödie von 1995", ITEMS[0], MOVIELENS_GENRES) == ["genre Comedy"]
