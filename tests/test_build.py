import json
import logging

import numpy as np
import pytest

from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import IndexMissing
from convrec.retrieve.attributes import KEYS, VECTORS
from convrec.retrieve.build import MANIFEST, build_index, read_manifest
from convrec.testing import HashEncoder, tiny_catalog


def write_movielens(directory, catalog):
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["movieId,title,genres"]
    for it in catalog.items.values():
        lines.append(f'{it.item_id},"{it.title} ({it.year})",{"|".join(it.genres)}')
    (directory / "movies.csv").write_text("\n".join(lines) + "\n")
    catalog.interactions.rename(columns={"user_id": "userId", "item_id": "movieId"}).to_csv(
        directory / "ratings.csv", index=False
    )


@pytest.fixture
def settings(tmp_path):
    write_movielens(tmp_path / "data", tiny_catalog())
    return Settings(dataset=str(tmp_path / "data"), index_dir=tmp_path / "index", embed_model="hash", llm="none")


def build(settings):
    return build_index(settings, encoder=HashEncoder(), progress=False, log=lambda *_: None)


def test_build_writes_manifest_and_rerun_does_no_work(settings):
    manifest, built = build(settings)
    assert built
    assert manifest["catalog"]["items"] == 24 and manifest["index"]["kind"] == "flat"
    embedding = manifest["embedding"]
    assert {k: embedding[k] for k in ("model", "dim", "embedded", "backend")} == {
        "model": "hash",
        "dim": 64,
        "embedded": 24,
        "backend": "HashEncoder",
    }
    assert embedding["items_per_s"] > 0
    assert {"catalog_hash", "cf", "embed_model"} <= set(manifest["inputs"])
    assert {"faiss-cpu", "numpy"} <= set(manifest["packages"]) and manifest["built_at"]
    assert read_manifest(settings.index_dir) == manifest
    _, built_again = build(settings)
    assert not built_again


def test_changed_catalogue_is_detected(settings):
    build(settings)
    movies = settings.dataset + "/movies.csv"
    with open(movies, "a") as f:
        f.write('99,"New Film (2020)",Drama\n')
    manifest, built = build(settings)
    assert built and manifest["catalog"]["items"] == 25


class Recording(HashEncoder):
    """The test encoder, keeping the texts of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def encode(self, texts, **kw):
        self.calls.append(list(texts))
        return super().encode(texts, **kw)


def test_a_rebuild_embeds_only_new_or_changed_items(settings):
    build(settings)
    movies = settings.dataset + "/movies.csv"
    with open(movies, "a") as f:
        f.write('99,"New Film (2020)",Drama\n')
    encoder = Recording()
    manifest, built = build_index(settings, encoder=encoder, progress=False, log=lambda *_: None)
    assert built and manifest["embedding"]["embedded"] == 1 and encoder.calls == [["New Film (2020). Genres: Drama."]]
    reused = load_recommender(settings, llm=None, encoder=HashEncoder()).index
    build_index(settings, encoder=encoder, progress=False, force=True, log=lambda *_: None)
    assert len(encoder.calls[-1]) == 25  # --force embeds everything
    fresh = load_recommender(settings, llm=None, encoder=HashEncoder()).index
    assert (reused.ids == fresh.ids).all()
    assert abs(reused.index.reconstruct_n(0, 25) - fresh.index.reconstruct_n(0, 25)).max() < 1e-6


def test_changed_embedding_model_is_detected(settings):
    build(settings)
    manifest, built = build(settings.model_copy(update={"embed_model": "hash-2"}))
    assert built and manifest["inputs"]["embed_model"] == "hash-2"


def test_loaded_recommender_answers(settings):
    build(settings)
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    turn = rec.recommend(Session(), "a funny 90s movie, nothing with horror")
    assert len(turn.recs) == 5
    assert all("Comedy" in r.item.genres and 1990 <= r.item.year <= 1999 for r in turn.recs)


def test_missing_index_is_a_clear_error(settings):
    with pytest.raises(IndexMissing, match="convrec build-index"):
        load_recommender(settings, llm=None, encoder=HashEncoder())


def test_corrupted_manifest_is_a_clear_error(settings):
    build(settings)
    (settings.index_dir / "manifest.json").write_text("{broken")
    with pytest.raises(IndexMissing, match="corrupted"):
        load_recommender(settings, llm=None, encoder=HashEncoder())
    _, built = build(settings)  # and a rebuild repairs it
    assert built


def test_index_built_with_another_model_is_refused(settings):
    build(settings)
    with pytest.raises(IndexMissing, match="built with hash but the config asks for all-MiniLM-L6-v2"):
        load_recommender(
            settings.model_copy(update={"embed_model": "all-MiniLM-L6-v2"}), llm=None, encoder=HashEncoder()
        )


def test_damaged_index_file_is_a_clear_error(settings):
    build(settings)
    (settings.index_dir / "items.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexMissing, match="damaged"):
        load_recommender(settings, llm=None, encoder=HashEncoder())


def test_half_written_build_leaves_no_manifest(settings, monkeypatch):
    build(settings)
    import convrec.retrieve.build as b

    monkeypatch.setattr(type(b.make_cf(settings)), "fit", lambda *a, **k: (_ for _ in ()).throw(MemoryError("boom")))
    with pytest.raises(MemoryError):
        build_index(settings, encoder=HashEncoder(), progress=False, force=True, log=lambda *_: None)
    with pytest.raises(IndexMissing):
        read_manifest(settings.index_dir)


class Interrupted(HashEncoder):
    """Embeds `chunks` chunks, then fails as a killed job would; counts the texts it embedded."""

    def __init__(self, chunks: int | None = None) -> None:
        super().__init__()
        self.chunks, self.texts = chunks, 0

    def encode(self, texts, **kw):
        if self.chunks is not None and self.chunks == 0:
            raise KeyboardInterrupt
        self.chunks = None if self.chunks is None else self.chunks - 1
        self.texts += len(texts)
        return super().encode(texts, **kw)


def test_an_interrupted_embedding_resumes_at_the_last_chunk_with_identical_vectors(settings, tmp_path):
    def run(settings, encoder):
        return build_index(settings, encoder=encoder, progress=True, log=lambda *_: None, embed_chunk=5)

    run(settings.model_copy(update={"index_dir": tmp_path / "reference"}), Interrupted())
    with pytest.raises(KeyboardInterrupt):
        run(settings, Interrupted(chunks=2))
    progress = json.loads((settings.index_dir / "embedding.partial" / "progress.json").read_text())
    assert progress["done"] == 10 and progress["n"] == 24
    resumed = Interrupted()
    _, built = run(settings, resumed)
    assert built and resumed.texts == 14  # only the chunks not finished before the interruption
    assert not (settings.index_dir / "embedding.partial").exists()
    got = load_recommender(settings, llm=None, encoder=HashEncoder()).index
    ref = load_recommender(settings.model_copy(update={"index_dir": tmp_path / "reference"}), llm=None,
                           encoder=HashEncoder()).index  # fmt: skip
    assert (got.index.reconstruct_n(0, 24) == ref.index.reconstruct_n(0, 24)).all()


def test_a_changed_catalogue_does_not_resume_an_old_partial_embedding(tmp_path):
    from convrec.retrieve.embed import embed_to_disk

    texts = [f"film {i}" for i in range(12)]
    with pytest.raises(KeyboardInterrupt):
        embed_to_disk(texts, Interrupted(chunks=1), tmp_path, chunk=5)
    encoder = Interrupted()
    vectors = embed_to_disk([*texts[:-1], "another film"], encoder, tmp_path, chunk=5)
    assert encoder.texts == 12 and np.allclose(vectors[-1], HashEncoder().encode(["another film"])[0])


# keywords and tags of a knowledge table, as tags.csv brings them: 31 attribute names over the tiny catalogue
KEYWORDS = {
    10: ("serial killer", "detective", "basement", "psychopath", "police"),
    9: ("nightmare", "haunted house", "ghost"),
    11: ("vampire", "full moon", "werewolf"),
    15: ("space station", "aliens", "astronaut", "zero gravity"),
    16: ("robot", "artificial intelligence", "dystopia"),
    17: ("feel-good", "paris", "love at first sight", "romantic"),
    18: ("feel-good", "heartwarming", "small town", "friendship"),
    13: ("revenge", "gunfight", "bounty hunter"),
    3: ("office", "workplace comedy", "boss"),
}


@pytest.fixture
def tagged(settings):
    lines = ["userId,movieId,tag,timestamp"] + [f"1,{i},{tag},0" for i, tags in KEYWORDS.items() for tag in tags]
    (settings.index_dir.parent / "data" / "tags.csv").write_text("\n".join(lines) + "\n")
    return settings


def first_turn(settings):
    """A fresh server's first topic turn: the texts encoded while loading and answering, and the recommender."""
    encoder = Recording()
    rec = load_recommender(settings, llm=None, encoder=encoder)
    turn = rec.recommend(Session(), "a dark movie about a serial killer and a detective", k=3)
    assert turn.recs[0].item.item_id == 10
    return encoder.calls, rec


def test_the_build_stores_the_attribute_vectors_so_that_no_turn_encodes_the_vocabulary(tagged):
    manifest, _ = build(tagged)
    assert {VECTORS, KEYS} <= set(manifest["files"])
    calls, rec = first_turn(tagged)
    names = rec.attributes.names
    assert len(names) == 31
    words = [text for call in calls for text in call]
    # the query's own vector and the request's words that are no attribute's name; not one name, not even
    # the ones it said ("serial killer", "detective": their stored vectors serve), nor those its mood means
    assert "dark" in words and {"serial killer", "detective"} <= set(names)
    assert not set(words) & set(names)
    assert len(words) < len(names)


def test_a_rebuild_encodes_only_the_new_attribute_names(tagged):
    build(tagged)
    with open(tagged.index_dir.parent / "data" / "tags.csv", "a") as f:
        f.write("1,15,submarine,0\n")
    encoder = Recording()
    _, built = build_index(tagged, encoder=encoder, progress=False, log=lambda *_: None)
    assert built and encoder.calls[-1] == ["submarine"]  # after the one item whose text changed
    calls, rec = first_turn(tagged)
    assert len(rec.attributes) == 32 and rec.attributes.names not in calls
    build_index(tagged, encoder=encoder, progress=False, force=True, log=lambda *_: None)
    assert encoder.calls[-1] == rec.attributes.names  # --force encodes every name again


def test_stored_attribute_vectors_equal_the_ones_encoded_on_first_use(tagged):
    build(tagged)
    _, stored = first_turn(tagged)
    (tagged.index_dir / KEYS).unlink()
    calls, first_use = first_turn(tagged)
    assert first_use.attributes.names in calls  # encoded on first use, as before
    assert (np.load(tagged.index_dir / VECTORS) == first_use.attributes._vectors).all()
    assert (stored.attributes._vectors == first_use.attributes._vectors).all()


def test_an_index_built_before_the_attribute_vectors_still_answers_and_a_build_adds_them(tagged, caplog):
    build(tagged)
    manifest = read_manifest(tagged.index_dir)  # as an index built before this change: no files, not listed
    manifest["files"] = [f for f in manifest["files"] if f not in (VECTORS, KEYS)]
    (tagged.index_dir / MANIFEST).write_text(json.dumps(manifest))
    (tagged.index_dir / VECTORS).unlink()
    (tagged.index_dir / KEYS).unlink()
    with caplog.at_level(logging.INFO, logger="convrec.retrieve.attributes"):
        calls, rec = first_turn(tagged)
    assert (
        "no attribute vectors" in caplog.text and "31 attribute names are encoded on the first request" in caplog.text
    )
    assert calls.count(rec.attributes.names) == 1
    caplog.clear()
    manifest, built = build(tagged)  # nothing to rebuild: only the vectors are added
    assert not built and {VECTORS, KEYS} <= set(manifest["files"]) == set(read_manifest(tagged.index_dir)["files"])
    calls, _ = first_turn(tagged)
    assert rec.attributes.names not in calls and not caplog.text


def test_attribute_vectors_of_another_encoder_are_not_taken(tagged, caplog):
    build(tagged)

    class Other(HashEncoder):
        name = "hash-2"

    rec = load_recommender(tagged, llm=None, encoder=HashEncoder())
    with caplog.at_level(logging.WARNING, logger="convrec.retrieve.attributes"):
        assert not rec.attributes.load_vectors(tagged.index_dir, Other())
    assert "are not hash-2's vectors of these 31 attribute names" in caplog.text
