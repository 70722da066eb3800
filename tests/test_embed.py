"""The encoders: ONNX Runtime gives the torch vectors, and build-index embeds with the backend the
settings name (both on the real MiniLM)."""

import numpy as np
import pytest

from convrec.core.config import Settings
from convrec.core.errors import ModelNotFound
from convrec.retrieve.build import build_index, make_encoder
from convrec.retrieve.embed import OnnxEncoder
from convrec.retrieve.index import ItemIndex
from convrec.testing import tiny_catalog
from tests.test_build import write_movielens

WORDS = "heist time travel dinosaurs boxing space war love ghost robot island detective music school".split()


def texts(n: int = 300) -> list[str]:
    """Catalogue-like texts of many lengths: a title, a year, genres, a plot of 0-60 words; a few
    beyond the model's 256 tokens, in Chinese, or padded with spaces."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        plot = " ".join(rng.choice(WORDS, size=int(rng.integers(0, 60))))
        out.append(f"Film {i} ({1930 + i % 90}). Genres: Drama|Comedy. {plot}")
    return [*out, " a ghost story  ", "关于时间旅行的电影", "space " * 400]


def onnx_encoder() -> OnnxEncoder:
    try:
        encoder = make_encoder(Settings(embed_backend="onnx"))
    except (ModelNotFound, OSError) as e:
        pytest.skip(f"embedding model not available: {e}")
    assert isinstance(encoder, OnnxEncoder)
    return encoder


@pytest.mark.slow
def test_onnx_vectors_are_the_torch_vectors(real_encoder) -> None:
    sample = texts()
    ours, theirs = onnx_encoder().encode(sample, batch_size=32), real_encoder.encode(sample, batch_size=32)
    assert ours.shape == theirs.shape == (len(sample), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(axis=1).min()) >= 0.999


@pytest.mark.slow
def test_no_texts_are_no_vectors_on_either_backend(real_encoder) -> None:
    for encoder in (onnx_encoder(), real_encoder):  # a catalogue without attributes asks for none
        assert encoder.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_onnx_threads_sleep_between_runs_instead_of_spinning() -> None:
    options = onnx_encoder().session.get_session_options()
    for pool in ("intra_op", "inter_op"):
        assert options.get_session_config_entry(f"session.{pool}.allow_spinning") == "0"


@pytest.mark.slow
def test_build_index_embeds_with_the_chosen_backend(tmp_path, real_encoder) -> None:
    onnx_encoder()  # skips without the model
    catalog = tiny_catalog()
    write_movielens(tmp_path / "data", catalog)
    lines: list[str] = []
    for backend in ("onnx", "torch"):
        settings = Settings(
            dataset=str(tmp_path / "data"), index_dir=tmp_path / backend, llm="none", embed_backend=backend
        )
        manifest, built = build_index(settings, progress=False, log=lines.append)
        assert built and manifest["embedding"]["backend"] == backend
        assert manifest["embedding"]["items_per_s"] > 0
    assert sum("items/s" in line for line in lines) == 2
    onnx, torch = (ItemIndex.load(tmp_path / backend, "flat") for backend in ("onnx", "torch"))
    assert (onnx.ids == torch.ids).all() and len(onnx.ids) == len(catalog)
    rows = np.arange(len(catalog))
    assert float((onnx.index.reconstruct_batch(rows) * torch.index.reconstruct_batch(rows)).sum(axis=1).min()) >= 0.999


@pytest.mark.slow
def test_the_limits_of_the_cores_are_measured(real_encoder, real_llm) -> None:
    from convrec.eval.limits import embedding_limits, llm_rates

    e = embedding_limits(real_encoder, texts(40))
    assert 0.05 < e["gflop_per_item"] < 5 and e["tokens_per_item"] > 10
    assert e["limit_items_per_s"] == pytest.approx(e["cpu_gflops"] / e["gflop_per_item"], rel=0.01)
    rates = llm_rates(real_llm)
    assert rates["prompt_tokens"] > 100 and rates["decoded_tokens"] > 0
    assert rates["prompt_per_s"] > 0 and rates["decode_per_s"] > 0


class Recorded:
    """An ONNX session that keeps the shape of every batch it runs (then runs it)."""

    def __init__(self, session) -> None:
        self.session, self.shapes = session, []

    def run(self, names, feed):
        self.shapes.append(feed["input_ids"].shape)
        return self.session.run(names, feed)


@pytest.mark.slow
def test_onnx_batches_texts_of_alike_token_counts_and_the_vectors_do_not_depend_on_the_batch() -> None:
    encoder = onnx_encoder()
    # characters are a poor measure of tokens here: a Chinese character is a token, "aaaa..." a few
    sample = [*texts(120), *("关于时间旅行的电影" * k for k in range(1, 9)), *("a" * 40 * k for k in range(1, 9))]
    tokens = [
        len(ids) for ids in encoder.tokenizer(sample, truncation=True, max_length=encoder.max_length)["input_ids"]
    ]
    alone = np.vstack([encoder.encode([text]) for text in sample])
    encoder.session = Recorded(encoder.session)  # type: ignore[assignment]
    batched = encoder.encode(sample, batch_size=16)
    padded = sum(rows * width for rows, width in encoder.session.shapes)

    def padding(order: list[int]) -> int:  # tokens run when batches of 16 follow `order`
        return sum(max(tokens[i] for i in order[s : s + 16]) * len(order[s : s + 16]) for s in range(0, len(order), 16))

    by_tokens = padding(sorted(range(len(sample)), key=lambda i: -tokens[i]))
    assert padded == by_tokens < 0.9 * padding(sorted(range(len(sample)), key=lambda i: -len(sample[i])))
    assert float((batched * alone).sum(axis=1).min()) >= 0.9999
