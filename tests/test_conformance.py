"""What every registered blend source and every stage of a turn must do (as LensKit's
`lenskit.testing` holds its scorers to one contract). Parametrised over the registry, so a new
source (`convrec.retrieve.sources.SOURCES`) is held to it without a line here.

Real parts: the tiny catalogue, its FAISS index, item-kNN, a conversation model fitted on dialogues
made here, and a tiny CLIP over colour pictures for the "image" source.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from convrec.chat.recommender import Recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.types import Candidates, Needs
from convrec.data.dialogs import RECOMMENDER, SEEKER, Dialogue
from convrec.retrieve.candidates import TIER
from convrec.retrieve.conv import ConvModel
from convrec.retrieve.images import ImageEncoder, ImageIndex
from convrec.retrieve.index import ItemIndex
from convrec.retrieve.sources import SOURCES, Library, Query, weights
from convrec.testing import colour_picture, tiny_clip

from .test_attributes import tagged_recommender

NEEDS = [  # between them, every source has something to say
    Needs(text="something about space and aliens", keywords=("space", "aliens"), about=("heartwarming",)),
    Needs(liked=(12,), disliked=(9,), text="like Dusty Trail"),
    Needs(prefer_genres=("Comedy",), include_genres=("Comedy",), text="a comedy, the funnier the better"),
    Needs(liked=(15,), prefer_genres=("Comedy",), text="like Space Station but funnier"),  # a liked item with tags
]


@pytest.fixture(scope="module")
def rec(tmp_path_factory) -> Recommender:
    """A chat over the tagged tiny catalogue with every part a source reads: attributes, pictures and a
    conversation model."""
    plain = tagged_recommender()
    ids = plain.index.ids
    said = [
        Dialogue(f"d{n}", ((SEEKER, (12,)), (RECOMMENDER, (16,))), ("I loved Dusty Trail", "try this"))
        for n in range(4)
    ]
    clip = ImageEncoder(tiny_clip(tmp_path_factory.mktemp("clip")), timeout_s=0.5)
    pictured = ids[:6]
    colours = ["red", "blue", "green", "yellow", "purple", "orange"]
    vectors = np.stack([clip.encode_image(colour_picture(c)) for c in colours])
    images = ImageIndex(clip, ItemIndex.build(vectors, pictured, kind="flat"), ids)
    return Recommender(
        plain.catalog, plain.index, plain.cf, plain.encoder, None, plain.settings, images, ConvModel.fit(said, ids)
    )


def queries(library: Library) -> list[Query]:
    everything = weights({})
    picture = library.images.encoder.encode_image(colour_picture("red")) if library.images else None
    return [Query(n, None, (), everything) for n in NEEDS] + [Query(NEEDS[0], picture, (16, 3, 99999), everything)]


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_source_shortlists_allowed_items_and_scores_every_candidate(rec, name):
    source, library = SOURCES[name], rec.library
    assert source.name == name and source.weight >= 0
    allowed = np.ones(len(library.items), bool)
    allowed[::3] = False  # a third filtered out
    spoke = False
    for query in queries(library):
        column = source.column(library, query)
        if column is None:
            continue
        spoke = True
        top = np.asarray(column.top(allowed, 5))
        assert len(top) <= 5 and len(set(top.tolist())) == len(top)
        assert all(allowed[library.index.position[int(i)]] for i in top), "a source never brings a filtered item"
        assert len(column.top(np.zeros(len(allowed), bool), 5)) == 0
        rows = np.flatnonzero(allowed)
        scores = np.asarray(column.at(rows), np.float64)
        assert scores.shape == (len(rows),) and np.isfinite(scores).all()
        assert len(column.at(np.empty(0, np.int64))) == 0
        assert np.array_equal(np.asarray(column.at(rows[::-1])), np.asarray(column.at(rows))[::-1]), "row by row"
    assert spoke, f"{name} said nothing for any of the test requests"


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_source_weighs_what_it_is_given_and_says_where_it_has_no_evidence(rec, name, monkeypatch):
    source, library = SOURCES[name], rec.library
    monkeypatch.setenv(f"CONVREC_W_{name.upper()}", "0.25")  # as users set it
    assert weights(Settings(llm="none").weights)[name] == 0.25
    assert weights(Settings(llm="none", **{f"w_{name}": 0.5}).weights)[name] == 0.5  # by name beats the environment
    for query in queries(library):
        assert source.turn_weight(dict.fromkeys(SOURCES, 0.0), query) == 0.0
        assert source.turn_weight(weights({}), query) >= 0.0
    rows = np.arange(len(library.items))
    missing = source.missing(library, rows)
    assert missing is None or (np.asarray(missing).dtype == bool and np.asarray(missing).shape == rows.shape)


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_source_round_trips_through_pickle(name):
    again = pickle.loads(pickle.dumps(SOURCES[name]))
    assert (type(again), again.name, again.weight) == (type(SOURCES[name]), SOURCES[name].name, SOURCES[name].weight)


@pytest.mark.parametrize("name", list(SOURCES))
def test_the_retrieve_stage_gives_every_speaking_source_a_column(rec, name):
    library = rec.library
    for query in queries(library):
        if SOURCES[name].column(library, query) is not None:
            found = rec.ranking.retrieve(query, [np.ones(len(library.items), bool)], 8)
            assert name in found.scores and len(found.scores[name]) == len(found)
            return
    pytest.fail(f"{name} said nothing for any of the test requests")


def aligned(cands: Candidates) -> None:
    assert isinstance(cands, Candidates)
    assert len(set(cands.ids.tolist())) == len(cands), "an item appears once"
    assert all(len(v) == len(cands) for v in cands.scores.values())
    assert cands.evidence is None or len(cands.evidence) == len(cands)


def stages(rec: Recommender, needs: Needs):
    """(name, call, its input) for each stage over the one list type, in turn order."""
    query = Query(needs, weights=rec.ranking.blend.weights)
    everything = [np.ones(len(rec.items), bool)]
    found = rec.ranking.retrieve(query, everything, 8)
    blended = rec.ranking.blend(found, query, 8)
    explained = rec.explain(blended, needs)
    return [
        ("retrieve", lambda _: rec.ranking.retrieve(query, everything, 8), Candidates(np.empty(0, np.int64))),
        ("blend", lambda c: rec.ranking.blend(c, query, 8), found),
        ("explain", lambda c: rec.explain(c, needs), blended),
        ("rerank", lambda c: rec.rerank(c, needs, 5, llm=None, request=needs.text)[0], explained),
    ]


@pytest.mark.parametrize("needs", NEEDS, ids=["words", "liked", "genres", "like-but"])
@pytest.mark.parametrize("stage", ["retrieve", "blend", "explain", "rerank"])
def test_a_stage_takes_and_returns_the_one_list_aligned_and_leaves_its_input_alone(rec, needs, stage):
    name, call, given = next(s for s in stages(rec, needs) if s[0] == stage)
    before = copy.deepcopy(given)
    out = call(given)
    aligned(out)
    assert np.array_equal(given.ids, before.ids) and given.scores.keys() == before.scores.keys()
    assert all(np.array_equal(given.scores[k], before.scores[k]) for k in given.scores)
    if name != "retrieve":
        assert set(out.ids.tolist()) <= set(given.ids.tolist()), "a stage after retrieval never adds items"
        assert given.evidence is None or out.evidence is not None, "evidence travels with its item"
    if name == "retrieve":
        assert {TIER, "text", "cf", "pop"} <= set(out.scores)
    if name == "blend":
        assert (np.diff(out.scores["blend"]) <= 1e-6).all(), "best first"
    if name == "explain":
        assert out.evidence is not None and np.array_equal(out.ids, given.ids)


def test_select_then_reply_close_the_turn(rec):
    tiers, relaxed = rec.ranking.select(Needs(include_genres=("Western",), year_min=1930, year_max=1931), set(), 5)
    assert relaxed is not None and len(tiers) >= 2 and not (tiers[0] & tiers[1]).any()
    top, relaxed = rec.candidates(NEEDS[1], Session(), 5, {})
    ranked, _ = rec.rerank(rec.explain(top, NEEDS[1]), NEEDS[1], 5, llm=None, request="like Dusty Trail")
    recs, reply = rec.answer(ranked, NEEDS[1], relaxed=relaxed, asked_last=False, unplaced=())
    assert [r.item.item_id for r in recs] == ranked.ids.tolist() and all(r.why for r in recs) and reply.text


def test_a_turn_calls_each_stage_once_per_pass(rec):
    """The quick pass: parse, select -> retrieve -> blend, explain, reply; the final one: the model's
    reading, proposals, explain, rerank, reply (and no second ranking when the model changed nothing)."""
    import sys
    from collections import Counter

    stage_calls = {
        ("understand.py", "Understand.rules"), ("understand.py", "Understand.model"), ("relax.py", "Select.__call__"),
        ("candidates.py", "Retrieve.__call__"), ("ranking.py", "Blend.__call__"), ("ranking.py", "Explain.__call__"),
        ("talk.py", "Rerank.__call__"), ("answer.py", "Answer.__call__"),
    }  # fmt: skip
    seen: Counter[str] = Counter()

    def count(frame, event, arg):
        if event == "call" and (frame.f_code.co_filename.rsplit("/", 1)[-1], frame.f_code.co_qualname) in stage_calls:
            seen[frame.f_code.co_qualname.split(".")[0]] += 1

    sys.setprofile(count)
    try:
        turn = rec.recommend(Session(), "a funny 90s movie, nothing with horror")
    finally:
        sys.setprofile(None)
    assert turn.recs and turn.info["final"]
    assert seen == {"Select": 1, "Retrieve": 1, "Blend": 1, "Understand": 2, "Explain": 2, "Answer": 2, "Rerank": 1}
