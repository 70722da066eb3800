"""Text encoders: strings -> L2-normalised float32 vectors, so inner product = cosine.

`SentenceEncoder` runs a sentence-transformers model with torch; `OnnxEncoder` runs the same
model's transformer with ONNX Runtime on the CPU, exported once from the local weights (no
download), with the same vectors (cosine >= 0.99999 on the catalogue) in less time; `make_encoder`
in `convrec.retrieve.build` picks one (`CONVREC_EMBED_BACKEND`). int8 quantisation of the weights
is left out on purpose: per tensor it was 1.8x faster again, but moved a catalogue vector to cosine
0.91; per channel 2.2x faster, cosine >= 0.974 (mean 0.992) on the knowledge catalogue's documents,
and the content suite on those vectors answered worse, 0.700 P@5 against 0.709 (topic 0.800 against
0.821; reports/content_knowledge_int8.json).

Also here: embedding a whole catalogue in bounded chunks straight to a file on disk, resumable
after an interruption (`stream_vectors`, `embed_to_disk`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from convrec.core.errors import EncoderUnsupported
from convrec.core.files import write_atomic


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


MULTILINGUAL_HINTS = ("multilingual", "labse", "bge-m3", "m3e", "chinese", "xlm", "e5")


def is_multilingual(encoder_name: str) -> bool:
    """Whether an encoder, by its name, reads more than English (the shipped MiniLM and mpnet do not).

    >>> is_multilingual("all-MiniLM-L6-v2"), is_multilingual("paraphrase-multilingual-MiniLM-L12-v2")
    (False, True)
    """
    name = encoder_name.casefold()
    return any(hint in name for hint in MULTILINGUAL_HINTS)


class SentenceEncoder:
    """A sentence-transformers model loaded from a local path (see models.resolve_embedder)."""

    backend = "torch"

    def __init__(self, path: str, name: str, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(str(path), device=device or default_device())
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise ValueError(f"{path}: the model does not say the size of its embeddings")
        self.dim = int(dim)
        self.tokenizer, self.max_length = self.model.tokenizer, self.model.max_seq_length
        # layers and sizes, for its FLOPs per item (None for a model that is not one transformer)
        self.config = getattr(getattr(self.model[0], "auto_model", None), "config", None)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)  # (0, dim) for none


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEncoder:
    """A sentence-transformers model (a transformer, mean or CLS pooling, normalised) run by ONNX
    Runtime on the CPU: the vectors of `SentenceEncoder` in less time (reports/bench_embed.json).

    The transformer is exported to ONNX from the weights at `path` the first time (seconds) into
    `directory`, under a digest of the weights, and read from there afterwards. Texts are
    tokenised as sentence-transformers does (stripped, truncated to the model's maximum length)
    and batched by their number of tokens, longest first, so a batch holds little padding: the
    knowledge catalogue's documents are padded 0.9 % over their tokens, where batching by
    characters padded them 17 %.
    """

    backend = "onnx"

    def __init__(self, path: str, name: str, directory: Path) -> None:
        import onnxruntime as ort
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device="cpu")
        kinds = [type(m).__name__ for m in model]
        pooling = getattr(model[1], "pooling_mode", None) if len(model) > 1 else None
        if (
            kinds[:2] != ["Transformer", "Pooling"]
            or kinds[2:] not in ([], ["Normalize"])
            or pooling not in {"mean", "cls"}
        ):
            raise EncoderUnsupported(
                f"{name} is {' -> '.join(kinds)} with {pooling} pooling; the ONNX path runs a transformer "
                "with mean or CLS pooling only: set CONVREC_EMBED_BACKEND=torch"
            )
        self.name, self.dim, self.pooling = name, int(model.get_embedding_dimension() or 0), pooling
        self.tokenizer, self.max_length = model.tokenizer, model.max_seq_length
        transformer: Any = model[0].auto_model
        self.config = transformer.config
        self.inputs = [n for n in self.tokenizer.model_input_names if n in ONNX_INPUTS]
        options = ort.SessionOptions()
        for pool in ("intra_op", "inter_op"):
            # threads sleep when a run ends instead of spinning for more work: on two shared cores the
            # spinning took the CPU from the turn's next stages (1M bench, load ~13: query 24-28 ->
            # 16-17 ms, the fold-in after it 22 -> 6-11 ms; 256 catalogue texts 21-25 -> 27-28 items/s)
            options.add_session_config_entry(f"session.{pool}.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(export_onnx(transformer, self.inputs, Path(directory))), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        if not len(texts):
            return out  # the tokenizer fails on an empty batch
        tokens = self.tokenizer([str(t).strip() for t in texts], truncation=True, max_length=self.max_length)
        order = np.argsort([-len(ids) for ids in tokens["input_ids"]], kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            batch = self.tokenizer.pad({n: [tokens[n][i] for i in rows] for n in tokens}, return_tensors="np")
            hidden = self.session.run(None, {n: batch[n].astype(np.int64) for n in self.inputs})[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"][..., None].astype(np.float32)
                pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


def export_onnx(transformer: Any, inputs: Sequence[str], directory: Path) -> Path:
    """`transformer` (a Hugging Face model) as an ONNX file in `directory` whose output is the
    last hidden state; the file is named by a digest of the weights and `inputs`, and exported
    only when it is not there yet (written atomically: a killed export leaves no half file)."""
    import torch

    digest = hashlib.blake2b(" ".join(inputs).encode(), digest_size=16)
    for key, tensor in sorted(transformer.state_dict().items()):
        digest.update(key.encode() + tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    path = directory / f"{digest.hexdigest()}.onnx"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = transformer.eval()

        def forward(self, *args: Any) -> Any:
            return self.model(**dict(zip(inputs, args, strict=True))).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*inputs, "hidden"]}
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            LastHidden(), example, str(partial), input_names=list(inputs), output_names=["hidden"],
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip
    os.replace(partial, path)
    return path


EMBED_CHUNK = 8192  # rows per chunk: ~12 MB of 384-d vectors, ~50 s of MiniLM on two cores
PROGRESS = "progress.json"
VECTORS = "vectors.f32"


def stream_vectors(
    n: int,
    dim: int,
    produce: Callable[[int, int], np.ndarray],
    directory: Path,
    *,
    key: str,
    chunk: int = EMBED_CHUNK,
    log: Callable[[str], object] | None = None,
) -> np.ndarray:
    """Rows 0..n of `produce(start, stop)`, written a chunk at a time into `directory`/vectors.f32
    (a float32 memory map, returned).

    After each chunk `progress.json` records how many rows are done, under `key` (what is being
    embedded: the encoder and the texts). A rerun with the same key continues after the last
    recorded chunk, so an interrupted build (an exception, Ctrl-C, a killed job) loses at most one
    chunk of work; another key starts over. Memory holds one chunk whatever `n` is: a million
    384-d vectors are 1.5 GB on disk, not in RAM.
    """
    directory = Path(directory)
    if n == 0:
        return np.zeros((0, dim), np.float32)
    directory.mkdir(parents=True, exist_ok=True)
    path, record = directory / VECTORS, directory / PROGRESS
    job, done = {"key": key, "n": n, "dim": dim}, 0
    try:
        old = json.loads(record.read_text(encoding="utf-8"))
        if all(old.get(k) == v for k, v in job.items()) and path.stat().st_size == n * dim * 4:
            done = int(old["done"])
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    out = np.memmap(path, dtype=np.float32, mode="r+" if done else "w+", shape=(n, dim))
    if done and log:
        log(f"resuming: {done:,} of {n:,} vectors were already embedded")
    for start in range(done, n, chunk):
        stop = min(n, start + chunk)
        out[start:stop] = produce(start, stop)
        out.flush()
        write_atomic(record, json.dumps({**job, "done": stop}))
        if log and stop < n:
            log(f"embedded {stop:,} of {n:,}")
    return out


def embed_to_disk(
    texts: Sequence[str],
    encoder: Encoder,
    directory: Path,
    *,
    batch_size: int = 64,
    chunk: int = EMBED_CHUNK,
    log: Callable[[str], object] | None = None,
) -> np.ndarray:
    """`encoder.encode(texts)`, streamed to disk by `stream_vectors`: same vectors, bounded memory,
    and a rerun after an interruption embeds only the chunks that were not finished."""
    digest = hashlib.blake2b(encoder.name.encode(), digest_size=16)
    for text in texts:
        digest.update(text.encode() + b"\0")
    return stream_vectors(
        len(texts), encoder.dim, lambda a, b: encoder.encode(texts[a:b], batch_size=batch_size),
        directory, key=digest.hexdigest(), chunk=chunk, log=log,
    )  # fmt: skip


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_key(encoder_name: str, text: str) -> bytes:
    """What identifies an item's vector: the encoder and the text it embedded.

    >>> text_key("m", "Heat (1995).") == text_key("m", "Heat (1995).") != text_key("other", "Heat (1995).")
    True
    """
    return hashlib.blake2b(f"{encoder_name}\0{text}".encode(), digest_size=16).digest()
