import dataclasses

import numpy as np
import pandas as pd
import pytest

from convrec.chat.recommender import Recommender
from convrec.chat.session import ERA_YEARS, Session
from convrec.core.config import Settings
from convrec.core.errors import InputError, LLMError
from convrec.core.types import Candidates, Item, Needs
from convrec.data.documents import item_text
from convrec.retrieve.cf import ItemKNN
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.sources import Query
from convrec.testing import FakeLLM, HashEncoder, tiny_catalog


def make_recommender(llm=None, **settings):
    catalog = tiny_catalog()
    encoder = HashEncoder()
    ids = catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    cf = ItemKNN().fit(catalog.interactions, ids)
    return Recommender(catalog, index, cf, encoder, llm, Settings(llm="none", **settings))


def check(turn, genre=None, years=None, not_genre=None):
    assert turn.recs
    for r in turn.recs:
        if genre:
            assert genre in r.item.genres, r.item
        if not_genre:
            assert not_genre not in r.item.genres, r.item
        if years:
            assert years[0] <= r.item.year <= years[1], r.item
        assert r.why


@pytest.mark.parametrize("text", ["a funny 90s movie, nothing with horror", "推荐几部九十年代的喜剧，不要恐怖片"])
def test_first_turn_obeys_every_constraint(text):
    rec = make_recommender()
    turn = rec.recommend(Session(), text)
    assert len(turn.recs) == 5
    check(turn, "Comedy", (1990, 1999), "Horror")
    assert set(turn.timings_ms) >= {"parse", "filter", "retrieve", "blend", "rerank"}


def test_second_turn_changes_years_and_keeps_exclusions_and_never_repeats():
    rec = make_recommender()
    session = Session()
    first = rec.recommend(session, "a funny 90s movie, nothing with horror")
    second = rec.recommend(session, "older, from the 80s")
    exact = second.recs[:4]  # four 80s comedies; the fifth is the nearest, from other years
    check(dataclasses.replace(second, recs=exact), "Comedy", (1980, 1989), "Horror")
    assert second.info["relaxed"] == ["years"] and second.recs[4].item.year not in range(1980, 1990)
    assert session.needs.exclude_genres == ("Horror",)
    assert not {r.item.item_id for r in first.recs} & {r.item.item_id for r in second.recs}


def test_liked_title_pulls_in_collaborative_neighbours():
    rec = make_recommender()
    turn = rec.recommend(Session(), "something like Dusty Trail")
    assert turn.needs.liked == (12,)
    rated = [r.item for r in turn.recs if r.item.popularity > 0][:3]
    assert len(rated) == 3 and all("Western" in it.genres for it in rated), turn.recs
    assert 12 not in [r.item.item_id for r in turn.recs]  # the seed itself is not recommended


def test_an_unrated_item_is_ranked_by_the_evidence_it_has():
    rec = make_recommender(w_attr=0.0)  # text, CF and popularity only: the shared genres would decide otherwise
    turn = rec.recommend(Session(), "something like Dusty Trail")
    # no interactions is missing evidence, not a zero: the unrated item that matches the liked
    # one's text best comes first (with the unrated counted as zeros it ranked 4th)
    cands, _ = rec.candidates(turn.needs, Session(), 5, {})
    best_text = rec.catalog.get(int(cands.ids[cands.scores["text"].argmax()]))
    assert best_text.popularity == 0 and turn.recs[0].item == best_text
    missing = rec.ranking.blend.missing(Candidates(rec.index.ids))
    assert missing["cf"].sum() == sum(it.popularity == 0 for it in rec.items)


def test_an_item_without_genres_is_not_ranked_as_sharing_none():
    """Genres unknown (a film newer than the ratings, known by its title only) are missing evidence
    for the genre columns, not a zero: its place does not move with their weight."""
    catalog = tiny_catalog()
    catalog.items[14] = dataclasses.replace(catalog.items[14], genres=())  # High Noon Again, a western
    encoder, ids = HashEncoder(), catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    cf = ItemKNN().fit(catalog.interactions, ids)
    scores = {}
    for w_attr in (0.0, 5.0):
        rec = Recommender(catalog, index, cf, encoder, None, Settings(llm="none", w_attr=w_attr))
        needs = Needs(liked=(12,), loose_genres=("Western",))  # "I love westerns, like Dusty Trail"
        cands, _ = rec.candidates(needs, Session(), 10, {})
        assert 14 in cands.ids.tolist()
        scores[w_attr] = float(cands.scores["blend"][cands.ids.tolist().index(14)])
        missing = rec.ranking.blend.missing(Candidates(rec.index.ids))
        assert rec.index.ids[missing["attr"]].tolist() == rec.index.ids[missing["pref"]].tolist() == [14]
    assert scores[5.0] == pytest.approx(scores[0.0])


def test_more_like_number_two_uses_the_shown_list():
    rec = make_recommender()
    session = Session()
    first = rec.recommend(session, "a comedy")
    second = rec.recommend(session, "more like #2")
    assert session.needs.liked == (first.recs[1].item.item_id,)
    assert second.recs


def test_llm_parse_and_rerank_are_used_and_validated():
    llm = FakeLLM(
        {
            "include_genres": ["Comedy"],
            "exclude_genres": [],
            "year_min": None,
            "year_max": None,
            "liked_titles": ["Titanic"],
            "disliked_titles": [],
            "keywords": ["office"],
        },
    )
    rec = make_recommender(llm=llm, propose_with_llm=False, llm_reply=False)
    session = Session()
    llm.enqueue({"order": [2, 1, 3, 4, 5]})
    blended = make_recommender().recommend(Session(), "a comedy about the office")
    turn = rec.recommend(session, "a comedy about the office")
    assert turn.needs.liked == ()  # "Titanic" is not in the catalogue and not in the text
    assert turn.info["parse_source"] == "llm+rules"
    assert [r.item.item_id for r in turn.recs[:2]] == [blended.recs[1].item.item_id, blended.recs[0].item.item_id]
    assert len(llm.history) == 2


def test_reasons_name_the_liked_title_behind_collaborative_picks():
    turn = make_recommender().recommend(Session(), "something like Dusty Trail")
    assert any("people who liked Dusty Trail also liked it" in r.why for r in turn.recs)


def test_dead_llm_degrades_with_template_reasons_and_constraints_kept():
    rec = make_recommender(llm=FakeLLM(LLMError("down"), LLMError("down")))
    turn = rec.recommend(Session(), "a funny 90s movie, nothing with horror")
    check(turn, "Comedy", (1990, 1999), "Horror")
    assert turn.info["degraded"] and turn.to_dict()["degraded"]


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", "x" * 100_000])
def test_bad_input_is_a_clear_error_and_changes_nothing(text):
    rec = make_recommender()
    session = Session()
    with pytest.raises(InputError, match="empty|limit"):
        rec.recommend(session, text)
    assert session == Session()


def test_impossible_constraints_return_the_nearest_and_say_so():
    rec = make_recommender()
    turn = rec.recommend(Session(), "a western from 2015")
    # no western after 1972: the years widen to hold every western, then the genre goes for the fifth
    assert {r.item.item_id for r in turn.recs[:4]} == {12, 13, 14, 22} and len(turn.recs) == 5
    assert turn.info["relaxed"] == ["years", "genre:Western"]
    assert "nearest" in turn.reply and turn.question == "Which matters most to you: 2015 or Western?"


def test_to_dict_shape():
    d = make_recommender().recommend(Session(), "a comedy").to_dict()
    assert set(d) >= {"needs", "reply", "question", "items", "timings_ms"}
    assert isinstance(d["reply"], str) and d["reply"] and d["question"] is None
    assert set(d["items"][0]) == {"item_id", "title", "year", "genres", "score", "why"}
    assert np.isfinite([i["score"] for i in d["items"]]).all()


def test_stream_yields_a_quick_blended_preview_then_the_final_turn():
    llm = FakeLLM({"order": [2, 1, 3, 4, 5]})
    rec = make_recommender(llm=llm)
    session = Session()
    stream = rec.stream(session, "a funny 90s movie, nothing with horror")
    preview = next(stream)
    assert not preview.info["final"] and len(preview.recs) == 5 and not llm.history
    assert session == Session()  # nothing changes until the final turn
    final = next(stream)
    assert final.info["final"] and len(llm.history) == 1
    assert {r.item.item_id for r in final.recs} <= {r.item.item_id for r in preview.recs} | set(session.shown)
    assert session.last_shown == [r.item.item_id for r in final.recs]
    check(preview, "Comedy", (1990, 1999), "Horror")


def test_a_large_category_vocabulary_is_shortlisted_in_the_parse_prompt():
    import pandas as pd

    from convrec.core.types import Item
    from convrec.data.catalog import Catalog

    subjects = [f"Subject {name}" for name in ("Astronomy", "Botany", "Chemistry", "Dance", "Economics")] + [
        f"Field {i}" for i in range(45)
    ]
    items = {i + 1: Item(i + 1, f"Intro to {s}", genres=(s,)) for i, s in enumerate(subjects)}
    catalog = Catalog("courses", items, pd.DataFrame({"user_id": [], "item_id": [], "rating": [], "timestamp": []}))
    encoder = HashEncoder()
    ids = catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    llm = FakeLLM(
        {
            "include_genres": ["Subject Astronomy"],
            "exclude_genres": [],
            "year_min": None,
            "year_max": None,
            "liked_titles": [],
            "disliked_titles": [],
            "keywords": ["stars"],
        }
    )
    rec = Recommender(
        catalog,
        index,
        ItemKNN().fit(catalog.interactions, ids),
        encoder,
        llm,
        Settings(llm="none", rerank_with_llm=False, domain_noun="course"),
    )
    turn = rec.recommend(Session(), "something about the stars and Astronomy")
    system = llm.history[0]["messages"][0]["content"]
    offered = llm.history[0]["schema"]["properties"]["include_genres"]["items"]["enum"]
    listed = next(line for line in system.splitlines() if line.startswith("Genres: "))
    assert listed == f"Genres: {', '.join(offered)}." and len(offered) == 12  # of 50
    assert "Subject Astronomy" in offered and "a course" in system
    assert turn.needs.include_genres == ("Subject Astronomy",)


def test_the_domain_noun_is_not_a_keyword_of_the_query():
    rec = make_recommender(domain_noun="course")
    needs = Needs(keywords=("course", "ethics", "Courses"), include_genres=("Drama",))
    assert Query(needs).text(rec.library) == "Drama ethics"


def test_like_x_but_newer_is_a_decade_on_and_ranks_x_own_sequels_after_other_films():
    catalog = tiny_catalog()
    fans = catalog.interactions[catalog.interactions.item_id == 9]
    sequels = {25: ("Night Terror 2", 1996), 26: ("Night Terror: The Return", 2006)}
    for item_id, (title, year) in sequels.items():
        catalog.items[item_id] = Item(item_id, title, year, ("Horror",), popularity=float(len(fans)))
    catalog = dataclasses.replace(
        catalog, interactions=pd.concat([catalog.interactions, *(fans.assign(item_id=i) for i in sequels)])
    )
    encoder = HashEncoder()
    ids = catalog.ids()
    index = ItemIndex.build(encoder.encode([item_text(catalog.get(int(i))) for i in ids]), ids, kind="flat")
    rec = Recommender(catalog, index, ItemKNN().fit(catalog.interactions, ids), encoder, None, Settings(llm="none"))
    turn = rec.recommend(Session(), "something like Night Terror but newer")
    assert turn.needs.year_min == 1993 + ERA_YEARS
    titles = [r.item.title for r in turn.recs]
    assert "Night Terror 2" not in titles  # of Night Terror's own decade
    assert titles.index("Blood Moon") < titles.index("Night Terror: The Return")  # the sequel is not what "newer" asks
