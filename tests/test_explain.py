"""Reasons that tie each item to the request, differ within an answer, and state only record facts."""

from __future__ import annotations

import pytest

from convrec.chat.session import Session
from convrec.core.types import Item, Needs
from convrec.rank.explain import masked, reasons, ties_of, unsupported_claims

from .test_pipeline import make_recommender

GENRES = ["Action", "Comedy", "Crime", "Drama", "Horror", "Romance", "Sci-Fi"]
NINETIES = Needs(include_genres=("Comedy",), exclude_genres=("Horror",), year_min=1990, year_max=1999)
# five 90s comedies, four of them nothing but comedies: the case that read "Comedy from 1996, as you asked." five times
COMEDIES = [
    Item(1, "Happy Gilmore", 1996, ("Comedy",), popularity=90),
    Item(2, "Billy Madison", 1995, ("Comedy",), popularity=60),
    Item(3, "The Big Lebowski", 1998, ("Comedy", "Crime"), popularity=120),
    Item(4, "Kingpin", 1996, ("Comedy",), popularity=40),
    Item(5, "Analyze This", 1999, ("Comedy",), popularity=50),
]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_five_look_alike_comedies_get_five_different_reasons_that_name_what_matched(language):
    needs = NINETIES.with_(language=language)
    whys = reasons(COMEDIES, needs, [ties_of(it, needs) for it in COMEDIES])
    titles = [it.title for it in COMEDIES]
    assert len({masked(w, titles) for w in whys}) == 5, whys
    for item, why in zip(COMEDIES, whys):
        assert ("Comedy" if language == "en" else "喜剧") in why and str(item.year) in why
        assert not unsupported_claims(why, item, GENRES, titles), why
    assert "the newest of these" in whys[4] if language == "en" else "最新" in whys[4]
    assert "Crime" in whys[2] if language == "en" else "犯罪" in whys[2]


def test_a_reason_names_the_liked_title_it_resembles_and_what_they_share():
    toy = Item(1, "Toy Story", 1995, ("Animation", "Children", "Comedy"))
    pick = Item(2, "Toy Story 2", 1999, ("Animation", "Children", "Comedy", "Fantasy"))
    needs = Needs(liked=(1,), year_min=1996)
    why = reasons([pick], needs, [ties_of(pick, needs, liked=[toy], fans=toy)])[0]
    assert "shares Animation, Children, Comedy and the decade with Toy Story" in why
    assert "people who liked Toy Story also liked it" in why
    assert not unsupported_claims(why, pick, [*GENRES, "Animation", "Children", "Fantasy"], named=["Toy Story"])


def test_a_shared_tag_that_names_a_genre_the_item_lacks_is_not_named():
    pulp = Item(1, "Pulp Fiction", 1994, ("Comedy", "Crime", "Drama"), tags=("black comedy", "nonlinear timeline"))
    pick = Item(
        2, "Inglourious Basterds", 2009, ("Action", "Drama", "War"), tags=("black comedy", "nonlinear timeline")
    )
    needs = Needs(liked=(1,))
    genres = ["Action", "Comedy", "Crime", "Drama", "War"]
    why = reasons([pick], needs, [ties_of(pick, needs, liked=[pulp], genres=genres)])[0]
    assert "nonlinear timeline" in why and "black comedy" not in why
    assert not unsupported_claims(why, pick, genres, named=["Pulp Fiction"])


def test_a_request_word_found_in_the_record_is_quoted_from_the_record():
    item = Item(1, "The Time Traveler's Wife", 2009, ("Drama", "Romance"), tags=("time travel",))
    needs = Needs(keywords=("travel",), text="movies about time travel")
    why = reasons([item], needs, [ties_of(item, needs)])[0]
    assert "“Traveler” is in its title" in why


def test_a_tag_that_holds_the_word_is_quoted_whole_and_said_by_its_own_source():
    pie = Item(1, "American Pie", 1999, ("Comedy",), tags=("come back", "coming of age"),
               tag_sources=("viewers", "TMDB"))  # fmt: skip
    needs = Needs(keywords=("coming",), text="a coming of age story")
    ties = ties_of(pie, needs, genres=GENRES)
    assert (ties.word, ties.field, ties.source) == ("coming of age", "tags", "TMDB")
    assert "TMDB keyword “coming of age”" in reasons([pie], needs, [ties])[0]


def test_a_tag_naming_a_genre_the_item_lacks_is_not_quoted():
    walle = Item(1, "WALL·E", 2008, ("Animation", "Sci-Fi"), tags=("romantic comedy", "robot love story"))
    needs = Needs(keywords=("romantic", "robots"), text="a romantic film about robots")
    ties = ties_of(walle, needs, genres=GENRES)
    assert (ties.word, ties.field) == ("robot love story", "tags")  # the next tag that holds a request word
    why = reasons([walle], needs, [ties])[0]
    assert "comedy" not in why.casefold() and not unsupported_claims(why, walle, GENRES, named=needs.keywords), why
    alone = Item(2, "WALL·E", 2008, ("Animation", "Sci-Fi"), tags=("romantic comedy",))
    assert ties_of(alone, Needs(keywords=("romantic",)), genres=GENRES).word == ""  # no tag left to quote
    comedy = Item(3, "Notting Hill", 1999, ("Comedy", "Romance"), tags=("romantic comedy",))
    assert ties_of(comedy, Needs(keywords=("romantic",)), genres=GENRES).word == "romantic comedy"


@pytest.mark.parametrize(
    ("sources", "en", "zh"),
    [
        (("TMDB",), "TMDB keyword “heist”", "TMDB关键词“heist”"),
        (("viewers",), "tagged “heist” by viewers", "观众标了“heist”"),
        ((), "tagged “heist”", "标签有“heist”"),  # a catalogue that does not say who tagged it
    ],
)
def test_a_tag_in_a_reason_says_who_gave_it(sources, en, zh):
    item = Item(1, "Heat", 1995, ("Action", "Crime"), tags=("heist",), tag_sources=sources)
    for language, said in (("en", en), ("zh", zh)):
        needs = Needs(keywords=("heist",), text="a heist movie", language=language)
        assert said in reasons([item], needs, [ties_of(item, needs)])[0]


def test_a_word_of_the_description_is_quoted_with_its_phrase_unless_the_phrase_claims_what_the_item_lacks():
    text = (
        "A crew plans one last bank heist before the detective closes in. It was 1984 and the comedy of errors began."
    )
    item = Item(1, "Heat", 1995, ("Action", "Crime"), text=text)
    for language, said in (("en", "its description: “…plans one last bank heist before the detective closes…”"),
                           ("zh", "简介写道：“…plans one last bank heist before the detective closes…”")):  # fmt: skip
        needs = Needs(keywords=("heist",), text="a heist movie", language=language)
        why = reasons([item], needs, [ties_of(item, needs, genres=GENRES)])[0]
        assert said in why and not unsupported_claims(why, item, GENRES), why
    for word in ("errors", "began"):  # its phrase holds a year and a genre the item does not have: the word alone
        needs = Needs(keywords=(word,), text=f"something about {word}")
        ties = ties_of(item, needs, genres=GENRES)
        assert (ties.word, ties.field, ties.phrase) == (word, "text", "")
        assert f"its description mentions “{word}”" in reasons([item], needs, [ties])[0]
    # and the checker still refuses a year or a genre inside a quote
    quoted = "Crime from 1995; its description: “a 1984 comedy of errors”"
    assert unsupported_claims(quoted, item, GENRES, named=["errors"]) == ["year 1984", "genre Comedy"]


def test_a_relaxed_item_says_it_is_the_nearest_and_names_no_missing_genre():
    needs = Needs(include_genres=("Animation", "Horror"), year_min=1950, year_max=1959)
    item = Item(1, "Cinderella", 1950, ("Animation", "Children"))
    why = reasons([item], needs, [ties_of(item, needs)])[0]
    assert "the nearest I found: not every genre you named" in why
    assert "Horror" not in why and not unsupported_claims(why, item, [*GENRES, "Animation", "Children"])


def test_the_checker_reads_chinese_genres_and_years_and_lets_names_and_own_title_pass():
    heat = Item(7, "Heat", 1995, ("Action", "Crime"))
    assert unsupported_claims("1995年的爱情片", heat, GENRES) == ["genre Romance"]
    assert unsupported_claims("九十年代的犯罪片", heat, GENRES) == []
    assert unsupported_claims("the 1990s", heat, GENRES) == []  # a decade, not the year 1990
    assert unsupported_claims("people who liked Star Wars also liked it", heat, GENRES, named=["Star Wars"]) == []
    blade = Item(8, "Blade Runner 2049", 2017, ("Sci-Fi",))
    assert unsupported_claims("“Runner 2049” is in its title", blade, GENRES) == []


def test_every_reason_of_real_turns_is_grounded_and_distinct():
    rec = make_recommender()
    for text in (
        "a funny 90s movie, nothing with horror",
        "推荐几部九十年代的喜剧，不要恐怖片",
        "something like Dusty Trail",
    ):
        turn = rec.recommend(Session(), text)
        titles = [r.item.title for r in turn.recs]
        named = [rec.catalog.get(i).title for i in turn.needs.liked]
        assert len({masked(r.why, titles + named) for r in turn.recs}) == len(turn.recs)
        for r in turn.recs:
            assert not unsupported_claims(r.why, r.item, rec.genres, titles, named), r.why
