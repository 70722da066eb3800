import json

import numpy as np
import pytest

from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import IndexMissing
from convrec.retrieve.build import build_index, read_manifest
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


def test_a_rebuild_embeds_only_new_or_changed_items(settings):
    class Counting(HashEncoder):
        def encode(self, texts, **kw):
            self.seen = list(texts)
            return super().encode(texts, **kw)

    build(settings)
    movies = settings.dataset + "/movies.csv"
    with open(movies, "a") as f:
        f.write('99,"New Film (2020)",Drama\n')
    encoder = Counting()
    manifest, built = build_index(settings, encoder=encoder, progress=False, log=lambda *_: None)
    assert built and manifest["embedding"]["embedded"] == 1 and encoder.seen == ["New Film (2020). Genres: Drama."]
    reused = load_recommender(settings, llm=None, encoder=HashEncoder()).index
    build_index(settings, encoder=encoder, progress=False, force=True, log=lambda *_: None)
    assert len(encoder.seen) == 25  # --force embeds everything
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
