"""The model proposes candidates: names matched to the catalogue, never invented items."""

import numpy as np

from convrec.chat.session import Session
from convrec.data.titles import TitleMatcher
from convrec.llm.propose import proposal_schema, propose
from convrec.llm.templates import load_prompt
from convrec.retrieve.blend import rank_scores
from convrec.testing import FakeLLM, tiny_catalog

PROMPT = load_prompt("propose", domain="movie", n="10")


def matcher():
    return TitleMatcher(tiny_catalog().items.values())


def test_names_are_matched_fuzzily_and_invented_ones_dropped():
    llm = FakeLLM({"titles": ["Laugh Riot (1994)", "The Godfather (1972)", "Office Hijinx", "laugh riot", "Giggles"]})
    assert propose(llm, "a silly comedy", matcher(), prompt=PROMPT) == [1, 3, 21]
    sent = llm.history[0]
    assert sent["schema"] == proposal_schema(10) and sent["messages"][1]["content"] == "a silly comedy"


def test_excluded_items_are_not_proposed():
    llm = FakeLLM({"titles": ["Laugh Riot (1994)", "Giggles (1992)"]})
    assert propose(llm, "more comedies", matcher(), prompt=PROMPT, exclude=[1]) == [21]


def test_a_dead_model_or_a_bad_answer_proposes_nothing():
    assert propose(FakeLLM(), "anything", matcher(), prompt=PROMPT) == []
    assert propose(FakeLLM("no titles today"), "anything", matcher(), prompt=PROMPT) == []
    assert propose(FakeLLM({"titles": "Laugh Riot"}), "anything", matcher(), prompt=PROMPT) == []


def test_scores_fall_with_the_rank():
    assert np.allclose(rank_scores(np.array([3, 1, 2]), [1, 2, 3]), [1 / 3, 1.0, 2 / 3])


EMPTY_PARSE = {"include_genres": [], "exclude_genres": [], "year_min": None, "year_max": None,
               "liked_titles": [], "disliked_titles": [], "keywords": []}  # fmt: skip


def test_the_turn_fuses_the_proposals_under_the_hard_filters():
    from .test_pipeline import make_recommender

    llm = FakeLLM(EMPTY_PARSE, {"titles": ["Roller Disco (1982)", "Night Terror (1993)", "Made Up Movie (2001)"]})
    rec = make_recommender(llm=llm, propose_with_llm=True, rerank_with_llm=False, llm_reply=False)
    turn = rec.recommend(Session(), "something with roller skates, no horror")
    assert turn.info["proposed"] == 2  # the invented title is dropped
    labels = [r.item.label() for r in turn.recs]
    assert labels[0] == "Roller Disco (1982)" and "Night Terror (1993)" not in labels  # Horror is excluded
    assert "propose" in turn.timings_ms and len(llm.history) == 2


def test_the_embedded_model_does_not_propose_unless_asked():
    from .test_pipeline import make_recommender

    class Embedded(FakeLLM):
        name = "embedded"

    assert not make_recommender(llm=Embedded()).understand.proposes
    assert make_recommender(llm=Embedded(), propose_with_llm=True).understand.proposes
    assert make_recommender(llm=FakeLLM()).understand.proposes
