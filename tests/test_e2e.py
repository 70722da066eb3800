"""End to end through the real embedded LLM and real embeddings, on a small catalogue."""

import json
import os
import subprocess
import sys

import pytest

from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.retrieve.build import build_index
from convrec.testing import tiny_catalog

from .test_build import write_movielens

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory, real_encoder):
    root = tmp_path_factory.mktemp("e2e")
    write_movielens(root / "data", tiny_catalog())
    settings = Settings(dataset=str(root / "data"), index_dir=root / "index", cache_dir=Settings().cache_dir)
    build_index(settings, encoder=real_encoder, progress=False, log=lambda *_: None)
    return settings


@pytest.fixture(scope="module")
def recommender(built, real_encoder, real_llm):
    """With the model reranking too (opt-in for the embedded model), so every LLM path runs."""
    return load_recommender(built.model_copy(update={"rerank_with_llm": True}), llm=real_llm, encoder=real_encoder)


def test_by_default_the_embedded_model_does_not_rerank(built, real_encoder, real_llm):
    rec = load_recommender(built, llm=real_llm, encoder=real_encoder)
    preview, final = rec.stream(Session(), "a funny 90s movie, nothing with horror")
    assert not rec.llm_reranks and not final.info["llm"] and not final.info.get("degraded")
    assert [r.item for r in final.recs] == [r.item for r in preview.recs]
    assert_constraints(final, "Comedy", (1990, 1999), "Horror")


def assert_constraints(turn, genre, years, not_genre):
    exact = turn.recs[: turn.info.get("exact", len(turn.recs))]  # when too few fit, the nearest follow
    assert len(exact) >= 4 and len(turn.recs) >= 5
    for r in exact:
        assert genre in r.item.genres and not_genre not in r.item.genres, r.item
        assert years[0] <= r.item.year <= years[1], r.item
        assert r.why


@pytest.mark.parametrize("text", ["a funny 90s movie, nothing with horror", "推荐几部九十年代的喜剧，不要恐怖片"])
def test_real_models_first_turn(recommender, text):
    turn = recommender.recommend(Session(), text)
    assert turn.info["llm"] and not turn.info.get("degraded"), turn.info
    assert turn.info["completion_tokens"] > 0
    assert_constraints(turn, "Comedy", (1990, 1999), "Horror")


def test_real_models_follow_up_turn(recommender):
    session = Session()
    recommender.recommend(session, "a funny 90s movie, nothing with horror")
    turn = recommender.recommend(session, "older, from the 80s")
    assert_constraints(turn, "Comedy", (1980, 1989), "Horror")


def test_real_llm_parse_is_validated(recommender):
    """Words the rules leave over go to the model; whatever it says must be backed by the text."""
    turn = recommender.recommend(Session(), "something cheerful for a rainy evening with my kids")
    assert turn.recs
    assert turn.needs.year_min is None and turn.needs.year_max is None  # no year in the text
    assert turn.needs.liked == ()  # no title in the text


def test_cli_recommend_json_with_session(built, tmp_path):
    env = {
        **os.environ,
        "CONVREC_DATASET": built.dataset,
        "CONVREC_INDEX_DIR": str(built.index_dir),
        "CONVREC_LLM": "none",  # the CLI's own LLM path is covered above; this checks the interface
    }
    session = tmp_path / "s.json"

    def run(text):
        out = subprocess.run(
            [sys.executable, "-m", "convrec.cli", "recommend", "--json", "--session", str(session), text],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    first = run("a funny 90s movie, nothing with horror")
    assert len(first["items"]) >= 5
    assert set(first["items"][0]) == {"item_id", "title", "year", "genres", "score", "why"}
    assert first["reply"].startswith("Understood: Comedy movies from the 1990s") and first["question"] is None
    assert {"parse", "retrieve", "rerank"} <= set(first["timings_ms"])
    second = run("older, from the 80s")
    assert second["needs"]["year_min"] == 1980 and second["needs"]["exclude_genres"] == ["Horror"]
    exact = second["items"][: second["relaxed"]["exact"]] if "relaxed" in second else second["items"]
    assert len(exact) >= 4 and all(1980 <= i["year"] <= 1989 and "Horror" not in i["genres"] for i in exact)

    bad = subprocess.run(
        [sys.executable, "-m", "convrec.cli", "recommend", "--json", "--session", str(session), " "],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "empty" in json.loads(bad.stdout)["error"]
    assert json.loads(session.read_text())["turns"][-1]["user"] == "older, from the 80s"  # nothing lost


def test_cli_chat_in_the_terminal(built):
    env = {
        **os.environ,
        "CONVREC_DATASET": built.dataset,
        "CONVREC_INDEX_DIR": str(built.index_dir),
        "CONVREC_LLM": "none",
    }
    script = "a funny 90s movie, nothing with horror\n/dislike 1\nolder, from the 80s\n\n/quit\n"
    out = subprocess.run(
        [sys.executable, "-m", "convrec.cli", "chat"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Noted." in out.stdout and "empty" in out.stdout
    lines = [line for line in out.stdout.splitlines() if line[:2] in {f"{n}." for n in range(1, 6)}]
    assert len(lines) >= 8 and all("(19" in line for line in lines)
