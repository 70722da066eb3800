"""Model-written profiles: written once, most popular first, resumable, embedded and searched by
their moods and themes, never shown as a catalogue fact."""

import json

from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.data.profiles import PROFILES, read_profiles
from convrec.llm.profiles import write_profiles
from convrec.llm.templates import load_prompt
from convrec.retrieve.build import read_manifest
from convrec.testing import FakeLLM, HashEncoder, tiny_catalog

from .test_build import build, settings  # noqa: F401  (the fixture)

PROMPT = load_prompt("profile", domain="movie")


def profile(premise, moods=(), themes=()):
    return {"premise": premise, "moods": list(moods), "themes": list(themes)}


def test_most_popular_first_resumable_and_failures_skipped(tmp_path):
    items = sorted(tiny_catalog().items.values(), key=lambda it: -it.popularity)
    llm = FakeLLM(profile("First.", ["tense"]), "not json at all", profile("Third.", themes=["heist"]))
    run = write_profiles(llm, items, tmp_path, prompt=PROMPT, model="fake", limit=3, progress=False)
    assert (run.written, run.failed, run.kept) == (2, 1, 0)
    sent = [h["messages"][1]["content"] for h in llm.history]
    assert sent == [f"{it.label()}. Genres: {', '.join(it.genres)}." for it in items[:3]]  # one item per call
    written = read_profiles(tmp_path / PROFILES)
    assert set(written) == {items[0].item_id, items[2].item_id}
    assert written[items[2].item_id].words() == ("heist",)

    llm = FakeLLM(profile("Second, at last.", ["sad"]), profile("Fourth."))
    run = write_profiles(llm, items, tmp_path, prompt=PROMPT, model="fake", limit=4, progress=False)
    assert (run.written, run.kept) == (2, 2)  # the two written before are kept, not asked again
    assert len(llm.history) == 2 and run.per_1k()["prompt_tokens"] > 0


def test_a_profile_of_another_title_or_a_broken_line_is_ignored(tmp_path):
    items = {it.item_id: it for it in tiny_catalog().items.values()}
    lines = [
        json.dumps({"item_id": 1, "label": "Laugh Riot (1994)", "model": "m", "premise": "Jokes.", "moods": ["silly"]}),
        json.dumps({"item_id": 2, "label": "Another Film (2001)", "model": "m", "premise": "Stale."}),
        "{broken",
    ]
    (tmp_path / PROFILES).write_text("\n".join(lines) + "\n")
    assert list(read_profiles(tmp_path / PROFILES, items)) == [1]


def test_profiles_are_embedded_searched_and_never_shown(settings):  # noqa: F811
    build(settings)
    catalog = tiny_catalog()
    quiet = catalog.get(18)  # "Quiet Drama": nothing in its record says bank robbery
    line = {"item_id": 18, "label": quiet.label(), "model": "m", "premise": "A crew plans a bank job.",
            "moods": ["tense"], "themes": ["heist"]}  # fmt: skip
    (settings.index_dir / PROFILES).write_text(json.dumps(line) + "\n")
    manifest, built = build(settings)
    assert built and "profiles" in manifest["inputs"]  # a new profile is a new input: rebuilt
    assert read_manifest(settings.index_dir)["inputs"]["profiles"] == manifest["inputs"]["profiles"]

    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    assert "heist" in rec.attributes.names
    turn = rec.recommend(Session(), "a heist movie", k=3)
    assert turn.recs[0].item.item_id == 18
    shown = " ".join([turn.reply, *(r.why for r in turn.recs)])
    assert "bank job" not in shown and "model-written" not in shown


def test_the_command_says_what_is_missing(tmp_path, capsys):
    from convrec.cli import main

    assert main(["--llm", "none", "--index-dir", str(tmp_path), "profiles", "--limit", "1"]) != 0
    assert "written by a model" in capsys.readouterr().err


def test_model_written_evidence_never_outranks_the_catalogues(settings):  # noqa: F811
    """A model wrote that a popular comedy is about dinosaurs; only an unrated film's title says so.
    The titled film comes first, and the model's words are no claim of closeness in the catalogue."""
    settings.index_dir.mkdir(parents=True)
    laugh_riot = tiny_catalog().get(1)  # rated by every comedy fan
    line = {"item_id": 1, "label": laugh_riot.label(), "model": "m", "themes": ["dinosaurs"],
            "premise": "Dinosaurs, dinosaurs and more dinosaurs."}  # fmt: skip
    (settings.index_dir / PROFILES).write_text(json.dumps(line) + "\n")
    build(settings)
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    turn = rec.recommend(Session(), "movies about dinosaurs", k=3)
    assert turn.recs[0].item.item_id == 1  # nothing in the catalogue is about dinosaurs: the model's word counts
    assert "closest" not in turn.reply and "nothing about" in turn.reply

    with open(settings.dataset + "/movies.csv", "a") as f:
        f.write('99,"Dinosaurs Alive (1990)",Adventure\n')  # nobody rated it
    build(settings)
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    turn = rec.recommend(Session(), "movies about dinosaurs", k=3)
    ids = [r.item.item_id for r in turn.recs]
    assert ids[0] == 99 and 1 in ids
    assert "Dinosaurs" in turn.recs[0].why and "dinosaurs" not in turn.recs[ids.index(1)].why.casefold()
