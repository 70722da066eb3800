"""The model proposes candidates: names matched to the catalogue, never invented items."""

import numpy as np

from convrec.data.titles import TitleMatcher
from convrec.llm.propose import proposal_schema, proposal_scores, propose
from convrec.llm.templates import load_prompt
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
    assert np.allclose(proposal_scores(np.array([3, 1, 2]), [1, 2, 3]), [1 / 3, 1.0, 2 / 3])
