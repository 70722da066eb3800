"""The conversation model: counts whose right answer is known by construction, cross-fitting
that never lets a turn see its own dialogue, and the product learning from its own use."""

import json

import httpx
import numpy as np
import pytest

from convrec.chat.load import load_recommender
from convrec.chat.recommender import Recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import InputError
from convrec.data.dialogs import RECOMMENDER, SEEKER, Dialogue, Resolver, dialogues_of, read_redial
from convrec.eval.crossfit import conv_models, cross_fit, fold_of
from convrec.retrieve.build import build_index
from convrec.retrieve.conv import ConvModel, load_conv
from convrec.serve.api import Running, create_api
from convrec.serve.db import open_store
from convrec.serve.learn import fit_dialogues, learn
from convrec.serve.service import make_service
from convrec.testing import HashEncoder, tiny_catalog

from .test_build import write_movielens
from .test_pipeline import make_recommender

IDS = np.arange(1, 25)


def said(seeker, answer, cid="d"):
    return Dialogue(cid, ((SEEKER, tuple(seeker)), (RECOMMENDER, tuple(answer))))


def test_answers_follow_what_was_mentioned_and_the_prior_fills_the_rest():
    # three dialogues answer Dusty Trail (12) with Six Guns (13); two others answer with Robot Dawn (16)
    dialogues = [said([12], [13], f"w{n}") for n in range(3)] + [said([1], [16], f"s{n}") for n in range(2)]
    model = ConvModel.fit(dialogues, IDS, shrinkage=1.0, together_weight=0.0)
    row = {int(i): r for r, i in enumerate(IDS)}
    scores = model.score([12])
    assert scores[row[13]] > scores[row[16]] > 0 == scores[row[14]]
    assert scores[row[13]] == pytest.approx((3 + 1 * 3 / 5) / (3 + 1))  # (answered + prior) / (mentioned + 1)
    nothing = model.score([])  # nothing known of the conversation: what the recommenders answered with most
    assert nothing.argmax() == row[13] and nothing[row[16]] == pytest.approx(2 / 5)
    assert np.array_equal(model.score([999]), nothing)  # an item the dialogues never mention
    assert not ConvModel.fit([], IDS).score([12]).any()


def test_items_brought_up_together_count_both_ways_answers_only_forward():
    model = ConvModel.fit([said([3], [7])], IDS, shrinkage=1.0, together_weight=1.0)
    assert model.answered[2, 6] == 1 and model.answered[6, 2] == 0
    assert model.together[2, 6] == model.together[6, 2] == 1
    repeated = ConvModel.fit([Dialogue("d", ((SEEKER, (3,)), (RECOMMENDER, (7,)), (RECOMMENDER, (7, 3))))], IDS)
    assert repeated.proposed.tolist() == model.proposed.tolist()  # once per dialogue; 3 was the seeker's


def test_save_load_and_a_rebuilt_index_with_other_rows(tmp_path):
    model = ConvModel.fit([said([3], [7]), said([3, 5], [9])], IDS, shrinkage=2.0)
    model.save(tmp_path, {"test": 2})
    again = ConvModel.load(tmp_path)
    assert np.array_equal(again.score([3]), model.score([3])) and again.shrinkage == 2.0
    assert json.loads((tmp_path / "conv_model.json").read_text())["sources"] == {"test": 2}
    other = np.array([9, 100, 7, 3])  # reordered, one new item, others dropped
    moved = load_conv(tmp_path, other)
    assert moved is not None
    assert moved.score([3]).tolist() == pytest.approx([model.score([3])[8], 0.0, model.score([3])[6], 0.0])
    assert load_conv(tmp_path / "none", IDS) is None


def test_newer_dialogues_weigh_more_with_a_half_life(tmp_path):
    # two old dialogues answer Dusty Trail (12) with Six Guns (13), the newest two with Robot Dawn (16)
    dialogues = [said([12], [13], "o1"), said([12], [13], "o2"), said([12], [16], "n1"), said([12], [16], "n2")]
    row = {int(i): r for r, i in enumerate(IDS)}
    alike = ConvModel.fit(dialogues, IDS).score([12])
    assert alike[row[13]] == pytest.approx(alike[row[16]])
    recent = ConvModel.fit(dialogues, IDS, half_life=1.0)
    assert recent.score([12])[row[16]] > 2 * recent.score([12])[row[13]]
    assert recent.mentioned[row[12]] == pytest.approx(4.0)  # the weights average 1: the counts keep their scale
    recent.save(tmp_path, {"test": 4})
    again = ConvModel.load(tmp_path)
    assert again.half_life == 1.0 and np.allclose(again.score([12]), recent.score([12]))


def test_cross_fitting_never_lets_a_turn_see_its_own_dialogue():
    # each dialogue answers its own film with another one nobody else ever mentions
    own = [said([i], [i + 12], f"c{i}") for i in range(1, 13)]
    fit = cross_fit([], own, lambda ds: ConvModel.fit(ds, IDS, shrinkage=1.0), k=3)
    assert len(fit.folds) == 3 and len(set(fit.fold.values())) > 1
    for d in own:
        asked, answer = d.turns[0][1][0], d.turns[1][1][0]
        model = fit.model_for(d.id)
        assert model.dialogues == sum(fold_of(o.id, 3) != fold_of(d.id, 3) for o in own)
        assert model.score([asked])[answer - 1] == 0  # neither its answer nor its prior
        assert fit.full.score([asked])[answer - 1] > 0  # the full model knows it
    assert fit.model_for("elsewhere") is fit.full
    outside = cross_fit(own, [], lambda ds: ConvModel.fit(ds, IDS))  # the graded file is not a training file: no folds
    assert not outside.folds and outside.model_for("c1") is outside.full


def test_the_evaluation_cross_fits_the_graded_file_only(tmp_path):
    rec = make_recommender()
    names = {"1": "Dusty Trail (1965)", "2": "Six Guns (1958)", "3": "Robot Dawn (2012)", "4": "Laugh Riot (1994)"}

    def conv(cid, a, b):
        return {
            "conversationId": cid,
            "initiatorWorkerId": 1,
            "movieMentions": names,
            "messages": [
                {"senderWorkerId": 1, "text": f"I love @{a}", "messageId": 1},
                {"senderWorkerId": 2, "text": f"try @{b}", "messageId": 2},
            ],
        }

    graded, other = tmp_path / "graded.jsonl", tmp_path / "other.jsonl"
    graded.write_text("".join(json.dumps(conv(f"g{n}", 1, 2)) + "\n" for n in range(6)))
    other.write_text(json.dumps(conv("o", 1, 3)) + "\n")
    examples = list(read_redial(graded, Resolver(rec.titles)))
    assert len(dialogues_of(examples)) == 6
    fit = conv_models([graded, other], graded, examples, rec, 3)
    assert fit.full.dialogues == 7
    for e in examples:
        model = fit.model_for(e.group)
        assert model.dialogues == 1 + sum(fold_of(f"g{n}", 3) != fold_of(e.group, 3) for n in range(6))
    assert not conv_models([other], graded, examples, rec, 3).folds
    whole = tmp_path / "whole.jsonl"  # the split `other` was sampled from: "o" again, and one more
    whole.write_text(json.dumps(conv("o", 1, 3)) + "\n" + json.dumps(conv("p", 2, 4)) + "\n")
    assert conv_models([graded, other, whole], graded, examples, rec, 3).full.dialogues == 8


def told(cid, text, answer, seeker_items=()):
    return Dialogue(cid, ((SEEKER, tuple(seeker_items)), (RECOMMENDER, (answer,))), (text, ""))


def test_words_the_seeker_said_reach_what_recommenders_answered_them_with(tmp_path):
    # "scary" (read as the genre Horror) was answered with Blood Moon (11) three times; "twist" in one dialogue only
    dialogues = [told(f"s{n}", "something scary please", 11) for n in range(3)]
    dialogues += [told("t", "a twist at the end", 16), told("w", "a western", 12)]
    model = fit_dialogues(dialogues, tiny_catalog(), IDS, shrinkage=1.0)
    assert "horror" in model.words and "twist" not in model.words  # heard in one dialogue: not learned
    row = {int(i): r for r, i in enumerate(IDS)}
    scary = model.score([], ["horror"])
    assert scary.argmax() == row[11] and scary[row[11]] > model.score([])[row[11]]
    assert np.array_equal(model.score([], ["unheard"]), model.score([]))
    deaf = fit_dialogues(dialogues, tiny_catalog(), IDS, shrinkage=1.0, word_weight=0.0)
    assert np.array_equal(deaf.score([], ["horror"]), model.score([]))  # words weighed 0: the prior
    assert not ConvModel.fit(dialogues, IDS).words  # no reader, no words
    model.save(tmp_path, {"test": 5})
    again = load_conv(tmp_path, IDS[::-1])
    assert again is not None and again.words == model.words
    assert again.score([], ["horror"]).tolist() == pytest.approx(scary[::-1].tolist())


def test_the_words_of_a_named_title_are_not_words_of_the_request():
    # "I loved Night Terror" names a film: "night" and "terror" say what it is called, not what is wanted
    dialogues = [told(f"n{n}", "I loved Night Terror, something with a twist", 10, (9,)) for n in range(2)]
    model = fit_dialogues(dialogues, tiny_catalog(), IDS)
    assert "plot twist" in model.words and not {"night", "terror"} & set(model.words)


def test_a_graded_conversation_in_a_training_file_is_left_out_of_training(tmp_path):
    rec = make_recommender()
    graded = tmp_path / "graded.jsonl"
    copy = tmp_path / "train.jsonl"
    line = json.dumps(
        {
            "conversationId": "g1",
            "initiatorWorkerId": 1,
            "movieMentions": {"1": "Dusty Trail (1965)", "2": "Six Guns (1958)"},
            "messages": [
                {"senderWorkerId": 1, "text": "I love @1", "messageId": 1},
                {"senderWorkerId": 2, "text": "try @2", "messageId": 2},
            ],
        }
    )
    graded.write_text(line + "\n")
    copy.write_text(line + "\n")
    examples = list(read_redial(graded, Resolver(rec.titles)))
    fit = conv_models([copy], graded, examples, rec, 3)
    assert fit.full.dialogues == 0 and not fit.full.score([12]).any()


@pytest.mark.shared
def test_redials_training_dialogues_share_no_conversation_with_the_graded_half(shared_data):
    def ids(name):
        with (shared_data / "redial" / name).open(encoding="utf-8") as f:
            return {str(json.loads(line)["conversationId"]) for line in f if line.strip()}

    graded = ids("test_dev.jsonl")
    train = {i for path in (shared_data / "redial").glob("train*.jsonl") for i in ids(path.name)}
    assert len(train) >= 500 and len(graded) >= 600 and not train & graded


def test_the_recommender_adds_the_conv_source_and_nothing_without_a_model():
    plain = make_recommender()
    before = [r.item.item_id for r in plain.recommend(Session(), "something like Dusty Trail", k=10).recs]
    same = make_recommender(w_conv=1.0)
    assert [r.item.item_id for r in same.recommend(Session(), "something like Dusty Trail", k=10).recs] == before
    conv = ConvModel.fit([said([12], [16], f"d{n}") for n in range(5)], IDS)
    learnt = Recommender(same.catalog, same.index, same.cf, same.encoder, None, same.settings, conv=conv)
    after = [r.item.item_id for r in learnt.recommend(Session(), "something like Dusty Trail", k=10).recs]
    assert 16 not in before[:3] and after.index(16) < (before.index(16) if 16 in before else 10)


@pytest.fixture
def built(tmp_path):
    write_movielens(tmp_path / "data", tiny_catalog())
    settings = Settings(dataset=str(tmp_path / "data"), index_dir=tmp_path / "index", embed_model="hash", llm="none")
    build_index(settings, encoder=HashEncoder(), progress=False, log=lambda *_: None)
    return settings


def rank_over_rest(settings, text, item):
    """Where `item` comes in a new conversation's answer to `text`, asked over HTTP on loopback of
    a server opened on the index as it is now (None: not in the top 20)."""
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    with Running(create_api(make_service(rec))) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        sid = c.post("/v1/sessions").json()["session_id"]
        ids = [
            i["item_id"] for i in c.post(f"/v1/sessions/{sid}/messages", json={"text": text, "k": 20}).json()["items"]
        ]
    return ids.index(item) if item in ids else None


def test_the_product_learns_from_likes_and_more_like_this_recorded_over_rest(built, tmp_path):
    # Westerns' fans never rated sci-fi: asked for films like Dusty Trail (12), Robot Dawn (16) comes late
    dusty, robot, request = 12, 16, "something like Dusty Trail"
    before = rank_over_rest(built, request, robot)
    assert before is None or before >= 5
    db = tmp_path / "fb.sqlite3"
    proxied = built.model_copy(update={"trusted_proxies": "127.0.0.1"})  # a proxy in front names each person
    rec = load_recommender(proxied, llm=None, encoder=HashEncoder())
    with Running(create_api(make_service(rec, feedback_db=db))) as server, httpx.Client(base_url=server.url) as c:
        for n in range(3):  # three people like Dusty Trail, then ask for more like Robot Dawn
            person = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
            sid = c.post("/v1/sessions", headers=person).json()["session_id"]
            shown = c.post(f"/v1/sessions/{sid}/messages", json={"text": "a film", "k": 20}).json()["items"]
            assert {dusty, robot} <= {i["item_id"] for i in shown}
            for item, action in ((dusty, "like"), (robot, "more_like")):
                r = c.post(f"/v1/sessions/{sid}/feedback", json={"item_id": item, "action": action}, headers=person)
                assert r.status_code == 200, r.text
    store = open_store(db)
    try:
        manifest = learn(built.index_dir, store=store)
    finally:
        store.close()
    assert manifest["sources"]["feedback"]["conversations"] == manifest["sources"]["feedback"]["clients"] == 3
    assert manifest["answer_pairs"] >= 1
    after = rank_over_rest(built, request, robot)
    assert after is not None and after < (before if before is not None else 20) and after < 5


def test_learn_needs_something_to_learn_from(built):
    with pytest.raises(InputError, match="nothing to learn from"):
        learn(built.index_dir)


def test_learn_command_from_a_dialogue_table_and_the_store(built, tmp_path, capsys):
    from convrec.cli import main
    from convrec.serve.feedback import FeedbackStore

    table = tmp_path / "turns.csv"
    table.write_text(
        'id,context,target\nc1/2,"User: I loved ""Dusty Trail"" (1965)",Robot Dawn (2012)|Six Guns (1958)\n'
    )
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    for n in range(3):  # three clients like Quiet Drama; a fourth likes Robot Dawn alone, which does not count yet
        store.record(f"s{n}", 18, "like", client=f"c-{n}")
    store.record("s4", 16, "like", client="c-4")
    code = main(
        [
            "--index-dir",
            str(built.index_dir),
            "learn",
            "--dialogs",
            str(table),
            "--feedback",
            "--db",
            str(tmp_path / "fb.sqlite3"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "(turns.csv: 1, feedback: 4)" in out and "4 votes" in out and "1 items" in out
    assert "biggest movers" in out and "Quiet Drama" in out
    model = load_conv(built.index_dir, IDS)
    weight = 0.25 * 1 / 4  # the feedback is at most a fifth of the dialogues: 4 votes beside 1 dialogue
    assert model is not None and model.answered[11, 15] == model.answered[11, 12] == 1
    assert model.proposed[17] == pytest.approx(3 * weight) and model.proposed[15] == 1  # Robot Dawn: the file's
    assert main(["--index-dir", str(built.index_dir), "learn", "--dialogs", str(tmp_path / "x.txt")]) == 2
