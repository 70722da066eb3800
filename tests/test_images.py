"""The picture path end to end, with a tiny CLIP made and trained here (no weights are downloaded):
embedding, the image index through `build_index`, words -> pictures, "more like this picture",
missing weights, and pictures that cannot be read (a broken file, a 404, a timeout)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from convrec.chat.load import load_recommender
from convrec.chat.session import Session
from convrec.core.config import Settings
from convrec.core.errors import ImageError, InputError, ModelNotFound
from convrec.retrieve.build import build_index, read_manifest
from convrec.retrieve.images import ImageEncoder
from convrec.testing import (
    COLOURS,
    HashEncoder,
    colour_picture,
    tiny_catalog,
    tiny_clip,
)

from .test_build import write_movielens
from .test_pipeline import make_recommender

# item id -> the colour of its poster (tiny_catalog: 1, 3, 21, 24 are comedies, 9 horror, 12 a western)
POSTERS = {1: "red", 3: "blue", 21: "black", 24: "white", 9: "green", 12: "yellow", 15: "purple", 17: "orange"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A tiny CLIP that has learnt the eight colour words (a few seconds on one core)."""
    return tiny_clip(tmp_path_factory.mktemp("clip"), train_steps=120)


@pytest.fixture(scope="module")
def encoder(clip):
    return ImageEncoder(clip, timeout_s=0.5)


class Pictures(BaseHTTPRequestHandler):
    """Serves `files` by path; /slow answers after 3 s; anything else is a 404. Counts requests."""

    files: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/slow":
            time.sleep(3)
        body = self.files.get(self.path)
        try:
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")
        except OSError:
            pass  # the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    Pictures.files = {f"/{c}.png": colour_picture(c, seed=7) for c in COLOURS}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pictures)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_vectors_are_normalised_float32_and_do_not_depend_on_batching(encoder, server, tmp_path):
    path = tmp_path / "red.png"
    path.write_bytes(colour_picture("red", seed=1))
    sources = [str(path), colour_picture("blue", seed=2), f"{server}/green.png"]
    one_batch = encoder.encode_images(sources, batch_size=3)
    one_by_one = encoder.encode_images(sources, batch_size=1)
    assert one_batch.vectors.shape == (3, encoder.dim) and one_batch.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(one_batch.vectors, axis=1), 1, atol=1e-5)
    assert one_batch.ok.tolist() == [0, 1, 2] and not one_batch.failed
    assert np.allclose(one_batch.vectors, one_by_one.vectors, atol=1e-5)
    words = encoder.encode_text(["a red poster", "blue"])
    assert words.shape == (2, encoder.dim) and np.allclose(np.linalg.norm(words, axis=1), 1, atol=1e-5)


def test_words_find_the_picture_of_their_colour(encoder):
    colours = list(COLOURS)
    pictures = encoder.encode_images([colour_picture(c, seed=500 + n) for n, c in enumerate(colours)]).vectors
    words = encoder.encode_text([f"a {c} poster" for c in colours])
    assert (words @ pictures.T).argmax(axis=1).tolist() == list(range(len(colours)))


def test_unreadable_pictures_are_skipped_and_counted(encoder, server, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a jpeg")
    sources = [
        f"{server}/red.png",
        str(broken),
        str(tmp_path / "missing.png"),
        f"{server}/gone.png",
        f"{server}/slow",
        b"junk",
    ]
    encoded = encoder.encode_images(sources, batch_size=2)
    assert encoded.ok.tolist() == [0] and len(encoded.vectors) == 1
    assert set(encoded.failed) == {1, 2, 3, 4, 5}
    assert "not a readable image" in encoded.failed[1] and "cannot read" in encoded.failed[2]
    assert "HTTP 404" in encoded.failed[3] and "no answer within 0.5 s" in encoded.failed[4]
    with pytest.raises(ImageError, match="not a readable image"):
        encoder.encode_image(b"junk")


def test_downloads_are_cached(clip, server, tmp_path):
    cached = ImageEncoder(clip, cache_dir=tmp_path / "cache")
    url = f"{server}/purple.png"
    first = cached.encode_images([url]).vectors
    before = Pictures.hits[url.removeprefix(server)]
    again = cached.encode_images([url]).vectors
    assert Pictures.hits[url.removeprefix(server)] == before and np.array_equal(first, again)


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="could not be loaded.*CONVREC_IMAGE_MODEL"):
        ImageEncoder(tmp_path)


# -- through build_index and the Recommender --------------------------------------------------


def write_posters(directory, server):
    """A details CSV giving the items of POSTERS a picture (local files and URLs), plus a broken
    file for item 2 and a dead link for item 4."""
    directory.mkdir(parents=True, exist_ok=True)
    catalog = tiny_catalog()
    posters = {}
    for n, (item_id, colour) in enumerate(POSTERS.items()):
        if n % 2:
            posters[item_id] = f"{server}/{colour}.png"
        else:
            posters[item_id] = str(directory / f"{colour}.png")
            (directory / f"{colour}.png").write_bytes(colour_picture(colour, seed=7))
    (directory / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    posters[2], posters[4] = str(directory / "broken.png"), f"{server}/dead-link.jpg"
    lines = ["movie_id,movie_title,movie_url,year,description,director,cast,poster_url"]
    for item_id, poster in posters.items():
        it = catalog.get(item_id)
        lines.append(f"{item_id},{it.title} ({it.year}),,{it.year},,[],[],['{poster}']")
    (directory / "details.csv").write_text("\n".join(lines) + "\n")
    return directory / "details.csv"


@pytest.fixture
def settings(tmp_path, server, clip):
    write_movielens(tmp_path / "data", tiny_catalog())
    return Settings(
        dataset=str(tmp_path / "data"),
        details=write_posters(tmp_path / "posters", server),
        index_dir=tmp_path / "index",
        cache_dir=tmp_path / "cache",
        embed_model="hash",
        image_model=str(clip),
        image_timeout_s=0.5,
        llm="none",
    )


def build(settings, log=lambda *_: None):
    return build_index(settings, encoder=HashEncoder(), progress=False, log=log)


def test_build_embeds_the_pictures_beside_the_text_and_counts_the_failures(settings):
    said = []
    manifest, built = build(settings, log=said.append)
    assert built and manifest["inputs"]["image_model"] == settings.image_model
    assert manifest["images"] == {
        "model": settings.image_model,
        "dim": 16,
        "kind": "flat",
        "with_picture": 10,
        "embedded": 8,
        "failed": 2,
        "files": ["images.faiss", "image_ids.npy"],
    }
    assert all((settings.index_dir / f).exists() for f in manifest["files"])
    assert {"images.faiss", "image_ids.npy"} <= set(manifest["files"])
    assert any("skipped 2 of 10 pictures" in line and "HTTP 404" in line for line in said)
    assert read_manifest(settings.index_dir) == manifest
    assert not build(settings)[1]  # unchanged inputs: nothing to do

    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    assert sorted(rec.library.images.index.ids.tolist()) == sorted(POSTERS)


def test_words_rank_the_item_whose_poster_they_describe_first(settings):
    build(settings)
    rec = load_recommender(settings.model_copy(update={"weights": {"image": 1.0}}), llm=None, encoder=HashEncoder())
    for item_id, colour in POSTERS.items():
        turn = rec.recommend(Session(), f"a {colour} poster")
        assert turn.recs[0].item.item_id == item_id, colour
    comedy = rec.recommend(Session(), "a comedy with a white poster")
    assert comedy.recs[0].item.item_id == 24 and all("Comedy" in r.item.genres for r in comedy.recs)


def test_more_like_this_picture_keeps_the_conversation_constraints(settings, tmp_path):
    build(settings)
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    upload = tmp_path / "upload.png"
    upload.write_bytes(colour_picture("blue", seed=99))  # another blue picture than item 3's poster
    turn = rec.recommend(Session(), "", image=upload.read_bytes())
    assert turn.recs[0].item.item_id == 3 and "picture" in turn.timings_ms
    with pytest.raises(ImageError, match="never a file on the server"):  # an upload is bytes, not a path
        rec.recommend(Session(), "", image=str(upload))

    session = Session()
    first = rec.recommend(session, "a comedy")
    turn = rec.recommend(session, "", image=colour_picture("green", seed=98))  # item 9's colour: a horror film
    shown = [r.item.item_id for r in turn.recs]
    assert shown and all("Comedy" in r.item.genres for r in turn.recs) and 9 not in shown
    assert not set(shown) & {r.item.item_id for r in first.recs} and len(session.turns) == 2


def test_a_bad_upload_or_no_picture_index_is_a_clear_error_that_changes_nothing(settings):
    build(settings)
    rec = load_recommender(settings, llm=None, encoder=HashEncoder())
    session = Session()
    with pytest.raises(ImageError, match="uploaded picture is not a readable image"):
        rec.recommend(session, "a comedy", image=b"<html>not a picture</html>")
    assert session == Session()
    with pytest.raises(InputError, match="no pictures.*CONVREC_IMAGE_MODEL"):
        make_recommender().recommend(Session(), "", image=colour_picture("red"))


def test_missing_weights_build_a_text_only_index_with_a_warning(settings, tmp_path):
    (tmp_path / "no-weights").mkdir()
    text_only = settings.model_copy(update={"image_model": str(tmp_path / "no-weights")})
    said = []
    manifest, built = build(text_only, log=said.append)
    assert built and "images" not in manifest and "images.faiss" not in manifest["files"]
    assert any(line.startswith("warning:") and "could not be loaded" in line and "text-only" in line for line in said)
    rec = load_recommender(text_only, llm=None, encoder=HashEncoder())
    assert rec.library.images is None and len(rec.recommend(Session(), "a comedy").recs) == 5


def test_the_chat_passes_an_uploaded_picture_through(settings, tmp_path):
    from convrec.serve.service import make_service
    from convrec.serve.ui import chat_turn

    build(settings)
    service = make_service(load_recommender(settings, llm=None, encoder=HashEncoder()))
    upload = tmp_path / "upload.png"
    upload.write_bytes(colour_picture("yellow", seed=7))  # the very poster of item 12
    sid, history, cards, _, answered = chat_turn(service, None, "", [], [], image=str(upload))
    assert answered and cards[0]["item_id"] == 12 and history[0]["content"] == "🖼️ More like this picture"
    sid, history, cards, _, answered = chat_turn(service, sid, "", history, cards, image=str(tmp_path / "gone.png"))
    assert answered is False and "cannot read" in history[-1]["content"]


def test_bench_compares_fused_and_joint_designs(clip):
    from convrec.eval.images import run

    result = run(clip, items=60, seeds=(1,), weights=(0.5,))
    assert set(result["results"]) == {"text", "picture", "average", "fused w=0.5", "concat w=0.5"}
    assert result["queries"] > 0 and all(0 <= v <= 1 for v in result["results"].values())
