"""ReDial / dialogue evaluation on tiny hand-made dialogues whose answers are known by construction.

The tiny catalogue (convrec.testing) has users 21-30 who like westerns only, so a seeker who
likes "Dusty Trail" gets westerns from the collaborative scores: the held-out western must come
back in the top few, and the westerns already mentioned must never come back at all.
"""

import argparse
import json

import numpy as np
import pytest

from convrec.core.types import Candidates
from convrec.data.dialogs import (
    Example,
    Resolver,
    Tally,
    Utterance,
    cluster_bootstrap_ci,
    coverage,
    hits,
    mean_ci,
    read_redial,
    read_table,
)
from convrec.data.titles import TitleMatcher
from convrec.eval.redial import (
    CachedEncoder,
    Reading,
    evaluate,
    make_systems,
    replay,
    summarise,
    unix_day,
)
from convrec.eval.redial_catalog import bridge_movies, merge_redial_movies, with_redial_prior, write_links
from convrec.eval.redial_cli import add_eval_cli
from convrec.testing import tiny_catalog

from .test_pipeline import make_recommender

SEEKER, RECOMMENDER = 1, 2
NAMES = {
    "1001": "Dusty Trail (1965)",
    "1002": "Six Guns  (1958)",  # ReDial's double spaces
    "1003": "High Noon Again (1972)",
    "1009": "A Film Nobody Made (2001)",
    "1010": "Ranch Feud",  # no year
    "1011": "Dusty Trail (1990)",  # wrong year: not Dusty Trail (1965)
}


def msg(sender, text, n):
    return {"senderWorkerId": sender, "text": text, "messageId": n, "timeOffset": n}


def conversation(cid, messages):
    return {
        "conversationId": cid,
        "initiatorWorkerId": SEEKER,
        "respondentWorkerId": RECOMMENDER,
        "movieMentions": NAMES,
        "messages": messages,
    }


@pytest.fixture
def redial_file(tmp_path):
    convs = [
        conversation(
            "c1",
            [
                msg(SEEKER, "Hi! I love westerns like @1001", 1),
                msg(RECOMMENDER, "You should watch @1002", 2),
                msg(RECOMMENDER, "it is great", 3),  # merged with the message before
                msg(SEEKER, "Seen it. Anything else?", 4),
                msg(RECOMMENDER, "Then @1003 or @1009, and @1001 is a classic", 5),  # @1001 repeats
                msg(SEEKER, "thanks", 6),
                msg(RECOMMENDER, "bye", 7),  # no mention: not graded
            ],
        ),
        conversation(
            "c2",
            [
                msg(RECOMMENDER, "Hello! Try @1010", 10),  # recommender first, empty context
                msg(SEEKER, "I did not like @1011", 11),
            ],
        ),
    ]
    path = tmp_path / "dialogs.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in convs))
    return path


@pytest.fixture(scope="module")
def rec():
    return make_recommender()


def test_title_matching_uses_title_and_year_fuzzily(rec):
    resolve = Resolver(rec.titles)
    assert resolve("Six Guns  (1958)") == 13  # spaces normalised
    assert resolve("Hi Noon Again (1972)") == 14  # a typo
    assert resolve("Six Guns (1959)") == 13  # a year off by one (festival vs release)
    assert resolve("Dusty Trail (1990)") is None  # the wrong year is another film
    assert resolve("Ranch Feud") == 22  # no year: the title alone
    assert resolve("A Film Nobody Made (2001)") is None
    assert resolve("") is None and resolve(None) is None


def test_redial_turns_contexts_targets_and_coverage(redial_file, rec):
    examples = list(read_redial(redial_file, Resolver(rec.titles)))
    assert [e.key for e in examples] == [
        {"conversation_id": "c1", "message_id": 2},
        {"conversation_id": "c1", "message_id": 5},
        {"conversation_id": "c2", "message_id": 10},
    ]
    first, second, third = examples
    assert first.text() == "User: Hi! I love westerns like Dusty Trail (1965)"
    assert first.targets == ("Six Guns (1958)",) and first.target_ids == (13,) and first.seen == {12}
    # the repeated Dusty Trail is dropped, the uncatalogued film kept for coverage only
    assert second.targets == ("High Noon Again (1972)", "A Film Nobody Made (2001)")
    assert second.target_ids == (14, None) and second.repeated == 1
    assert second.gradable == (14,) and second.seen == {12, 13}
    assert second.context[1].text == "You should watch Six Guns (1958) it is great"
    assert second.context[0].parse_text == "Hi! I love westerns like Dusty Trail"  # no year to misread
    assert third.context == () and third.gradable == (22,)
    cov = coverage(examples)
    assert cov == {
        "coverage": 0.75,
        "targets": 4,
        "targets_in_catalogue": 3,
        "repeated_targets_dropped": 1,
        "turns_with_mentions": 3,
        "n": 3,
    }


def test_replay_likes_the_seekers_mentions_and_shows_the_recommenders(redial_file, rec):
    second = list(read_redial(redial_file, Resolver(rec.titles)))[1]
    session, needs = replay(second, rec, Reading(now_year=2018), frozenset({"western", "westerns"}))
    assert needs.liked == (12,) and session.shown == [13]
    assert needs.year_min is None  # "(1965)" is no year wish
    # "I love westerns like Dusty Trail": a taste beside a liked film, preferred, not a filter
    assert (needs.include_genres, needs.loose_genres) == ((), ("Western",))


@pytest.mark.parametrize("name", ["popularity", "text", "cf", "blend"])
def test_no_system_recommends_an_item_the_context_mentions(redial_file, rec, name):
    examples = list(read_redial(redial_file, Resolver(rec.titles)))
    system = make_systems(rec, [name], reading=Reading(now_year=2018))[0]
    for ex in examples:
        ids, _ = system.rank(ex)
        assert ids and len(ids) == len(set(ids))
        assert not set(ids) & ex.seen, (name, ex.key)


def test_single_source_systems_rank_by_that_source_alone(rec):
    # the seeker liked Dusty Trail, and named no genre: the pipeline's other sources (the genres a
    # film shares with the liked ones, the model's proposals, pictures) must not reorder what
    # popularity alone ranks
    liked = Example({}, (Utterance("seeker", "I liked Dusty Trail", (12,)),), ("Six Guns (1958)",), (13,))
    system = make_systems(rec, ["popularity"], reading=Reading(now_year=2018))[0]
    session, needs = system.shared.replayed(liked, system.rec)
    cands, _ = system.ranking(needs, {*session.shown, *needs.liked, *needs.disliked}, 10, 10, {})
    popularity = system.ranking.retrieve.library.popularity
    pop = [float(popularity[rec.index.position[int(i)]]) for i in cands.ids]
    assert pop == sorted(pop, reverse=True)
    scores: dict[float, set[float]] = {}
    for p, score in zip(pop, cands.scores["blend"].tolist()):
        scores.setdefault(p, set()).add(round(score, 6))
    assert all(len(s) == 1 for s in scores.values()), scores  # as popular, as high (westerns were higher)


def test_cf_finds_the_held_out_western_by_construction(redial_file, rec):
    examples = list(read_redial(redial_file, Resolver(rec.titles)))
    systems = make_systems(rec, ["popularity", "cf", "blend"], reading=Reading(now_year=2018))
    run = evaluate(examples[:2], systems, rec.catalog)
    result = summarise(run, examples[:2], bootstrap=0)
    assert result["cf"]["recall@5"] == 1.0 and result["blend"]["recall@5"] == 1.0
    assert result["cf"]["pairs"] == 2 and result["cf"]["n"] == 2
    assert set(result) == {"popularity", "cf", "blend"}


def test_the_redial_prior_reaches_movies_nobody_rated(rec):
    # Robot Dawn (16) has no MovieLens ratings; ReDial's dialogues mention it most, Dusty Trail less
    counts = np.zeros(len(rec.items))
    counts[rec.index.position[16]], counts[rec.index.position[12]] = 50, 5
    systems = make_systems(rec, ["popularity", "blend"], reading=Reading(now_year=2018))
    with_redial_prior(systems, counts)
    nothing_said = Example({}, (), ("Robot Dawn",), (16,))
    assert [s.rank(nothing_said)[0][0] for s in systems] == [16, 16]
    assert rec.ranking.blend.missing(Candidates(np.array([16])))["pop"].all()  # the chat's stages are untouched
    # a count over all of ReDial's dialogues covers every film: Laugh Riot (1), rated on MovieLens
    # but never mentioned, has a count of 0 (the lowest), not a missing one that other sources fill
    assert not systems[1].ranking.blend.missing(Candidates(np.array([1, 16])))["pop"].any()


def test_metrics_and_intervals():
    assert hits([4, 5, 6], 6, (1, 2, 3)) == {1: 0, 2: 0, 3: 1}
    assert hits([], 6, (1,)) == {1: 0}
    mean, half = mean_ci([1, 0, 0, 0])
    assert mean == 0.25 and half == pytest.approx(1.96 * 0.5 / 2)  # std (ddof=1) 0.5 over sqrt(4)
    lo, hi = cluster_bootstrap_ci([1, 1, 1, 0, 0, 0], list("aaabbb"), n_boot=500, seed=1)
    assert lo == 0.0 and hi == 1.0  # two conversations: either all hits or none
    tally = Tally((1, 10))
    tally.add([1, 2, 3], Example({}, (), ("x", "y"), (1, 3), group="a"), 0)
    tally.add([9], Example({}, (), ("z",), (4,), group="b"), 1)
    s = tally.summary(bootstrap=0)
    assert (s["recall@1"], s["recall@10"], s["pairs"], s["n"]) == (round(1 / 3, 4), round(2 / 3, 4), 3, 2)
    assert tally.summary(only={1}, bootstrap=0)["recall@10"] == 0.0


def test_generic_table_with_roles_repeats_and_several_targets(tmp_path, rec):
    path = tmp_path / "rows.csv"
    path.write_text(
        "ctx,target\n"
        '"User: I loved Dusty Trail\nSystem: what else?\nUser: more westerns",Six Guns (1958)|Dusty Trail\n'
        '"User: a comedy please",Laugh Riot (1994)\n'
    )
    examples = list(read_table(path, "ctx", "target", rec.titles, target_sep="|"))
    assert [e.key for e in examples] == [{"row": 2}, {"row": 3}]
    assert [u.role for u in examples[0].context] == ["seeker", "recommender", "seeker"]
    assert examples[0].seen == {12} and examples[0].target_ids == (13,) and examples[0].repeated == 1
    with pytest.raises(Exception, match="no column 'nope'"):
        list(read_table(path, "nope", "target", rec.titles))


def test_cli_writes_predictions_and_the_issue_json(tmp_path, redial_file, rec, monkeypatch, capsys):
    import convrec.chat.load
    import convrec.eval.redial_cli as redial_cli

    monkeypatch.setattr(redial_cli, "prepare_index", lambda settings, *a, **k: (settings, {"catalog": "tiny"}))
    monkeypatch.setattr(convrec.chat.load, "load_recommender", lambda *a, **k: rec)
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm", default="none")
    add_eval_cli(parser.add_subparsers(dest="eval"))
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    args = parser.parse_args(
        [
            "redial",
            "--data",
            str(redial_file),
            "--movies",
            str(redial_file),
            "--systems",
            "popularity,cf,blend,blend+llm",
            "--predictions",
            str(preds),
            "--out",
            str(out),
            "--json",
            "--bootstrap",
            "50",
        ]
    )
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"recall@1", "recall@5", "recall@10", "recall@20", "recall@50", "n", "coverage"}
    assert printed["n"] == 3 and printed["coverage"] == 0.75
    full = json.loads(out.read_text())
    assert full["system"] == "blend" and set(full["systems"]) == {"popularity", "cf", "blend"}
    assert "blend+llm skipped" in full["config"]["note"] and full["config"]["genres"] == "hard"
    lines = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [line["message_id"] for line in lines] == [2, 5, 10]
    assert all(len(line["titles"]) == len(line["item_ids"]) <= 50 for line in lines)
    assert lines[1]["titles"][0].endswith(")")  # titles carry their year
    assert set(lines[1]["others"]) == {"popularity", "cf"}

    from convrec.eval.report import write_report

    write_report([out], None, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert "| blend | 3 |" in text and "GPT-4" in text
    assert (tmp_path / "report_recall.png").stat().st_size > 0 and (tmp_path / "report_latency.png").is_file()


def test_redial_popularity_is_counted_as_of_the_dialogues_not_the_newest_rating(
    tmp_path, redial_file, monkeypatch, capsys
):
    import dataclasses

    import pandas as pd

    import convrec.chat.load
    import convrec.eval.redial_cli as redial_cli
    from convrec.chat.recommender import Recommender
    from convrec.data.catalog import Catalog

    # every tiny rating is from January 2018; Robot Dawn (16) gets 40 ratings in September 2018,
    # months after ReDial's dialogues were collected: they must not make it popular for them
    base = tiny_catalog()
    late = pd.DataFrame({"user_id": range(100, 140), "item_id": 16, "rating": 5.0, "timestamp": unix_day("2018-09-01")})
    inter = pd.concat([base.interactions.assign(timestamp=unix_day("2018-01-01")), late], ignore_index=True)
    items = {i: dataclasses.replace(it, popularity=float((inter.item_id == i).sum())) for i, it in base.items.items()}
    catalog = Catalog("tiny", items, inter.astype(base.interactions.dtypes.to_dict()))
    rec = make_recommender()
    rec = Recommender(catalog, rec.index, rec.cf, rec.encoder, None, rec.settings)
    monkeypatch.setattr(redial_cli, "prepare_index", lambda settings, *a, **k: (settings, {"catalog": "tiny"}))
    monkeypatch.setattr(convrec.chat.load, "load_recommender", lambda *a, **k: rec)
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm", default="none")
    add_eval_cli(parser.add_subparsers(dest="eval"))
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    argv = ["redial", "--data", str(redial_file), "--movies", str(redial_file), "--systems", "popularity"]
    args = parser.parse_args([*argv, "--predictions", str(preds), "--out", str(out), "--bootstrap", "0"])
    assert args.func(args) == 0
    capsys.readouterr()
    first = [json.loads(line)["item_ids"][0] for line in preds.read_text().splitlines()]
    assert 16 not in first
    assert json.loads(out.read_text())["config"]["pop_as_of"] == "2018-06-15"


def test_the_commands_are_wired_into_convrec_eval():
    from convrec.cli import build_parser
    from convrec.core.config import settings_from_args
    from convrec.eval.redial_cli import (
        cmd_eval_dialogs,
        cmd_eval_redial,
        cmd_eval_simulate,
    )

    parser = build_parser()
    assert parser.parse_args(["eval", "redial", "--limit", "3"]).func is cmd_eval_redial
    assert (
        parser.parse_args(["eval", "dialogs", "--data", "x.csv", "--context-col", "c", "--target-col", "t"]).func
        is cmd_eval_dialogs
    )
    assert parser.parse_args(["eval", "simulate"]).func is cmd_eval_simulate
    args = parser.parse_args(["eval", "redial", "--genres", "soft", "--knowledge", "a.csv", "--knowledge", "b.csv"])
    assert args.genres == "soft" and settings_from_args(args).knowledge == "a.csv,b.csv"


@pytest.mark.parametrize("command", ["redial", "simulate", "dialogs"])
def test_the_evaluations_catalogue_is_not_the_global_bring_your_own_catalogue(command):
    from convrec.cli import build_parser
    from convrec.core.config import settings_from_args

    extra = ["--data", "x.csv", "--context-col", "c", "--target-col", "t"] if command == "dialogs" else []
    args = build_parser().parse_args(["eval", command, "--catalog", "ml-latest-small", *extra])
    assert settings_from_args(args).catalog is None  # `--catalog` of `convrec build-index` names a file
    assert args.eval_catalog == "ml-latest-small"


def test_blend_llm_reorders_the_top_with_a_fake_model(redial_file, rec):
    from convrec.testing import FakeLLM

    examples = list(read_redial(redial_file, Resolver(rec.titles)))
    llm = FakeLLM({"order": [3, 2, 1]})
    blend, ranked = make_systems(rec, ["blend", "blend+llm"], llm=llm, llm_window=3, reading=Reading(now_year=2018))
    plain, _ = blend.rank(examples[0])
    reordered, info = ranked.rank(examples[0])
    assert info["llm"] and len(llm.history) == 1
    assert set(reordered[:3]) == set(plain[:3]) and reordered[3:] == plain[3:]
    assert "Hi! I love westerns" in llm.history[0]["messages"][1]["content"]


def test_merging_redial_movies_adds_only_the_missing_ones(tmp_path):
    movies = tmp_path / "movies.csv"
    movies.write_text(
        "movieId,movieName,nbMentions\n1,Dusty Trail (1965),3\n2,Brand New Film (2017),5\n"
        "3,Brand New Film,1\n4,Six Guns  (1958),2\n"
    )
    merged, stats = merge_redial_movies(tiny_catalog(), movies)
    assert stats == {"redial_movies": 4, "matched": 2, "added": 1, "items": 25}
    added = merged.get(10_000_002)
    assert (added.title, added.year, added.genres) == ("Brand New Film", 2017, ())
    assert TitleMatcher(merged.items.values()).match("Brand New Film", 2017) == 10_000_002


def test_bridging_gives_merged_films_genres_and_ids_by_exact_title_and_year_only(tmp_path):
    movies = tmp_path / "movies.csv"
    movies.write_text(
        "movieId,movieName,nbMentions\n2,Brand New Film (2017),5\n5,Jungle Romp (2017),4\n"
        "6,Twice Made (2010),1\n7,No Year Film,1\n8,Off By One (2015),1\n9,Far Off (2000),1\n"
    )
    ml25m = tmp_path / "ml-25m"
    ml25m.mkdir()
    (ml25m / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Brand New Film (2017),Comedy|Drama\n"
        "2,Jungle Romp: Welcome Back (2017),Adventure\n"  # ReDial names only the part before the colon
        "3,Twice Made (2010),Horror\n4,Twice Made (2010),Drama\n"  # two films fit: never guessed
        "5,No Year Film (1999),Drama\n"  # the ReDial name has no year
        "6,Off By One (2016),Thriller\n"  # ReDial's year one off
        "7,Far Off (2004),Western\n"  # four years off: another film
    )
    (ml25m / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0000001,101\n2,0000002,102\n6,0000006,106\n")
    merged, _ = merge_redial_movies(tiny_catalog(), movies)
    bridged, links, stats = bridge_movies(merged, ml25m, lambda i: i >= 10_000_000)
    genres = {bridged.get(i).title: bridged.get(i).genres for i in bridged.items if i >= 10_000_000}
    assert genres == {
        "Brand New Film": ("Comedy", "Drama"),
        "Jungle Romp": ("Adventure",),
        "Twice Made": (),
        "No Year Film": (),
        "Off By One": ("Thriller",),
        "Far Off": (),
    }
    assert links == {10_000_002: ("0000001", "101"), 10_000_005: ("0000002", "102"), 10_000_008: ("0000006", "106")}
    assert stats == {"items": 6, "bridged": 3, "ambiguous": 1, "no_year": 1, "genres": 3}
    assert all(bridged.get(i) == merged.get(i) for i in merged.items if i < 10_000_000)  # MovieLens's own untouched
    write_links(tmp_path / "links.csv", ml25m / "links.csv", {10_000_005: ("0000002", "102")})
    assert (tmp_path / "links.csv").read_text().splitlines()[-1] == "10000005,0000002,102"


def test_cached_encoder_encodes_each_text_once():
    from convrec.testing import HashEncoder

    calls = []

    class Counting(HashEncoder):
        def encode(self, texts, **kw):
            calls.append(list(texts))
            return super().encode(texts, **kw)

    enc = CachedEncoder(Counting())
    enc.prime(["a b", "c", "a b"])
    v = enc.encode(["c", "a b"])
    assert calls == [["a b", "c"]] and v.shape == (2, 64)
    assert np.allclose(v[0], HashEncoder().encode(["c"])[0])


@pytest.mark.shared
def test_the_development_half_of_redial(shared_data):
    from convrec.data.loaders import load_catalog

    catalog = load_catalog(shared_data / "ml-latest-small")
    examples = list(
        read_redial(shared_data / "redial" / "test_dev.jsonl", Resolver(TitleMatcher(catalog.items.values())))
    )
    cov = coverage(examples)
    assert cov["n"] == 1537 and cov["targets"] == 2302 and cov["repeated_targets_dropped"] == 239
    assert 0.85 < cov["coverage"] < 0.89
    assert all(not set(e.gradable) & e.seen for e in examples)


def test_exported_turns_read_back_as_a_table(tmp_path, redial_file, rec):
    from convrec.eval.redial_cli import export_table

    examples = list(read_redial(redial_file, Resolver(rec.titles)))
    export_table(examples, tmp_path / "turns.csv")
    back = list(read_table(tmp_path / "turns.csv", "context", "target", rec.titles, id_col="id", target_sep="|"))
    assert [b.key["id"] for b in back] == ["c1/2", "c1/5", "c2/10"]
    assert [b.targets for b in back] == [e.targets for e in examples]
    assert back[1].context[1].role == "recommender" and back[0].target_ids == (13,)


def test_replay_takes_up_the_suggestions_the_seeker_does_not_reject(rec):
    said = [
        Utterance("seeker", "I love westerns like Dusty Trail", (12,)),
        Utterance("recommender", "Try Six Guns", (13,)),
        Utterance("seeker", "Not a fan of that one, sorry", ()),
        Utterance("recommender", "High Noon Again then?", (14,)),
        Utterance("seeker", "Sounds great! What else?", ()),
        Utterance("recommender", "Space Station", (15,)),
        Utterance("seeker", "I've seen it already", ()),
        Utterance("recommender", "Ranch Feud is a classic", (22,)),  # not answered yet
    ]
    example = Example({}, tuple(said), ("Robot Dawn",), (16,), frozenset({12, 13, 14, 15, 22}))
    _, needs = replay(example, rec, Reading(now_year=2018))
    assert needs.liked == (12, 14, 22) and needs.disliked == (13,)  # 15 only seen: neither
    _, seeker_only = replay(example, rec, Reading(liked_from="seeker", now_year=2018))
    assert seeker_only.liked == (12,) and not seeker_only.disliked
    named = Example({}, (Utterance("seeker", "I've already seen Dusty Trail, what else?", (12,)),), ("X",), (16,))
    assert replay(named, rec, Reading(now_year=2018))[1].liked == ()  # seen, and nothing said for it
