"""Text encoders: strings -> L2-normalised float32 vectors, so inner product = cosine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from convrec.core.types import Item


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


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def item_text(item: Item, written: str = "", max_chars: int = 600) -> str:
    """The text an item is embedded from: the facts a person would search by, then what a model
    wrote about it (`written`, see `convrec.data.profiles`) where the facts leave room.

    >>> item_text(Item(1, "Heat", 1995, ("Action", "Crime"), tags=("heist",)))
    'Heat (1995). Genres: Action, Crime. Tags: heist.'
    """
    parts = [f"{item.label()}."]
    if item.genres:
        parts.append(f"Genres: {', '.join(item.genres)}.")
    if item.tags:
        parts.append(f"Tags: {', '.join(item.tags[:12])}.")
    if item.text:
        parts.append(item.text)
    if item.people:
        parts.append(f"With {', '.join(item.people[:4])}.")
    if written:
        parts.append(written)
    return " ".join(parts)[:max_chars]
