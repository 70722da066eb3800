from convrec.core.errors import LLMError
from convrec.core.types import Item, Needs
from convrec.rank.explain import Ties, reasons, template_recs, ties_of, unsupported_claims
from convrec.rank.rerank import order, rank_request
from convrec.testing import FakeLLM

GENRES = ["Action", "Comedy", "Crime", "Horror", "Romance"]
ITEMS = [
    Item(1, "Heat", 1995, ("Action", "Crime"), tags=("heist",)),
    Item(2, "Clueless", 1995, ("Comedy", "Romance")),
    Item(3, "Friday", 1995, ("Comedy",)),
]
NEEDS = Needs(include_genres=("Comedy",), year_min=1990, year_max=1999)


def run(llm, k=2, ties=None):
    """The model's order, then the template reasons of the top k (as the rerank and reply stages do)."""
    top, final, info = order(ITEMS, [0.9, 0.8, 0.7], NEEDS, k, llm=llm, prompt="sys", request="a 90s comedy")
    ties = ties or [ties_of(it, NEEDS) for it in ITEMS]
    return template_recs([ITEMS[i] for i in top], final[top], NEEDS, [ties[i] for i in top]), info


def test_the_model_only_orders_in_few_tokens_and_reasons_are_templates():
    llm = FakeLLM({"order": [3, 1]})
    recs, _ = run(llm, ties=[Ties(fans="Ronin"), Ties(), Ties()])
    assert [r.item.item_id for r in recs] == [3, 1]
    assert all(r.why_source == "template" for r in recs)
    assert "people who liked Ronin also liked it" in recs[1].why
    assert set(llm.history[0]["schema"]["properties"]) == {"order"}
    assert llm.history[0]["max_tokens"] <= 40


def test_out_of_range_and_duplicate_picks_are_ignored_and_list_is_filled():
    recs, _ = run(FakeLLM({"order": [7, 2, 2]}), k=3)
    assert [r.item.item_id for r in recs] == [2, 1, 3]


def test_malformed_output_and_dead_model_degrade_to_blended_order():
    for llm in (FakeLLM("not json at all"), FakeLLM(LLMError("server down")), FakeLLM(), FakeLLM({"order": [7]})):
        recs, info = run(llm)
        assert [r.item.item_id for r in recs] == [1, 2]
        assert info["degraded"] and all(r.why_source == "template" for r in recs)


def test_no_llm_is_not_degraded():
    recs, info = run(None)
    assert len(recs) == 2 and "degraded" not in info


def test_template_reasons_only_state_record_facts():
    for lang in ("en", "zh"):
        needs = NEEDS.with_(language=lang)
        for item, why in zip(ITEMS, reasons(ITEMS, needs, [ties_of(it, needs) for it in ITEMS])):
            assert not unsupported_claims(why, item, GENRES), why
    zh = NEEDS.with_(language="zh")
    assert "1995年" in reasons(ITEMS, zh, [ties_of(it, zh) for it in ITEMS])[2]


def test_checker_flags_other_titles_and_wrong_decades():
    assert unsupported_claims("Better than Clueless", ITEMS[0], GENRES, ["Heat", "Clueless"]) == ["title Clueless"]
    assert unsupported_claims("an 80s gem", ITEMS[0], GENRES) == ["decade 80s"]
    assert unsupported_claims("a 90s crime film", ITEMS[0], GENRES) == []


def test_rank_request_states_needs_only_on_follow_ups_and_keeps_the_latest_words():
    comedies = [Item(2, "Clueless", 1995, ("Comedy", "Romance")), Item(3, "Friday", 1995, ("Comedy",))]
    first = rank_request(comedies, NEEDS, "a 90s comedy", 2, follow_up=False)
    assert "Needs:" not in first
    assert "Comedy" not in first.split("Candidates:")[1]  # shared by every candidate
    assert "Romance" in first
    later = rank_request(comedies, NEEDS, "older", 2, follow_up=True)
    assert "Needs: genres: Comedy; years 1990-1999" in later
    long = "x " * 400 + "but nothing with Tom Hanks"
    assert rank_request(comedies, NEEDS, long, 2).splitlines()[0].endswith("but nothing with Tom Hanks")
    assert len(rank_request(comedies, NEEDS, long, 2).splitlines()[0]) <= len("Request: ") + 300
