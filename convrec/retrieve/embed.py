"""Text encoders: strings -> L2-normalised float32 vectors, so inner product = cosine.

Also here: embedding a whole catalogue in bounded chunks straight to a file on disk, resumable
after an interruption (`stream_vectors`, `embed_to_disk`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

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

    def __init__(self, path: str, name: str, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(str(path), device=device or default_device())
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise ValueError(f"{path}: the model does not say the size of its embeddings")
        self.dim = int(dim)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


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
