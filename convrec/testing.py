"""Helpers for tests, shipped in the package so downstream projects can reuse them."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from typing import Any

from convrec.core.errors import LLMError
from convrec.llm.base import Completion, Message


class FakeLLM:
    """A queue-driven LLM: `enqueue` replies, then read `history` to see what was sent.

    A queued exception is raised instead of returned, to test failure paths. An empty queue
    raises LLMError, like a model that is down.

    >>> llm = FakeLLM(); llm.enqueue({"include_genres": ["Comedy"]})
    >>> llm.complete([{"role": "user", "content": "hi"}]).text
    '{"include_genres": ["Comedy"]}'
    """

    name = "fake"

    def __init__(self, *replies: Any) -> None:
        self.queue: deque[Any] = deque()
        self.history: list[dict[str, Any]] = []
        for r in replies:
            self.enqueue(r)

    def enqueue(self, reply: Any) -> None:
        self.queue.append(reply)

    def complete(
        self,
        messages: list[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        self.history.append({"messages": messages, "schema": schema, "max_tokens": max_tokens})
        if not self.queue:
            raise LLMError("fake LLM has no queued reply")
        reply = self.queue.popleft()
        if isinstance(reply, BaseException):
            raise reply
        text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(text.split()))


class StreamingFakeLLM(FakeLLM):
    """A `FakeLLM` whose backend streams free text, as the embedded one does: `stream` yields the
    next queued reply word by word, `pause_s` apart (a model writing slowly)."""

    def __init__(self, *replies: Any, pause_s: float = 0.0) -> None:
        super().__init__(*replies)
        self.pause_s = pause_s

    def stream(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        import re
        import time

        text = self.complete(messages, max_tokens=max_tokens).text
        for piece in re.findall(r"\S+\s*", text):
            time.sleep(self.pause_s)
            yield piece


class HashEncoder:
    """A deterministic bag-of-words encoder: texts sharing words get similar vectors.

    Stands in for a sentence-transformers model in fast tests; same interface as embed.Encoder.
    """

    name = "hash"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def encode(self, texts, *, batch_size: int = 64, progress: bool = False):
        import hashlib
        import re

        import numpy as np

        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.casefold()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        out += 1e-3  # no zero vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def tiny_catalog():
    """24 films over four decades and six genres, with users whose tastes are known:
    users 1-10 like comedies, 11-20 like horror, 21-30 like westerns."""
    import pandas as pd

    from convrec.core.types import Item
    from convrec.data.catalog import Catalog

    rows = [
        (1, "Laugh Riot", 1994, ("Comedy",)),
        (2, "Silly Summer", 1996, ("Comedy", "Romance")),
        (3, "Office Hijinks", 1999, ("Comedy",)),
        (4, "Big Day Out", 1991, ("Comedy", "Adventure")),
        (5, "Haunted Comedy Club", 1995, ("Comedy", "Horror")),
        (6, "The Prankster", 1987, ("Comedy",)),
        (7, "Roller Disco", 1982, ("Comedy", "Musical")),
        (8, "Mall Rats Return", 1985, ("Comedy",)),
        (9, "Night Terror", 1993, ("Horror",)),
        (10, "The Cellar", 1981, ("Horror", "Thriller")),
        (11, "Blood Moon", 2005, ("Horror",)),
        (12, "Dusty Trail", 1965, ("Western",)),
        (13, "Six Guns", 1958, ("Western", "Action")),
        (14, "High Noon Again", 1972, ("Western",)),
        (15, "Space Station", 1997, ("Sci-Fi", "Action")),
        (16, "Robot Dawn", 2012, ("Sci-Fi",)),
        (17, "Love in Paris", 1998, ("Romance", "Drama")),
        (18, "Quiet Drama", 2003, ("Drama",)),
        (19, "Funny Business", 2008, ("Comedy",)),
        (20, "Family Laughs", 2015, ("Comedy", "Children")),
        (21, "Giggles", 1992, ("Comedy", "Children")),
        (22, "Ranch Feud", 1961, ("Western", "Drama")),
        (23, "Alien Comedy", 1997, ("Comedy", "Sci-Fi")),
        (24, "Comedy of Errors", 1989, ("Comedy",)),
    ]
    taste = {range(1, 11): "Comedy", range(11, 21): "Horror", range(21, 31): "Western"}
    inter = []
    for users, genre in taste.items():
        for u in users:
            for item_id, _, _, genres in rows:
                if genre in genres and (item_id + u) % 3 != 0:
                    inter.append((u, item_id, 5.0, 0))
    df = pd.DataFrame(inter, columns=["user_id", "item_id", "rating", "timestamp"]).astype(
        {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"}
    )
    counts = df["item_id"].value_counts()
    items = {i: Item(i, t, y, g, popularity=float(counts.get(i, 0))) for i, t, y, g in rows}
    return Catalog("tiny", items, df)


# -- pictures: colours whose right answer is known, and a tiny CLIP that can learn them --------

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (40, 70, 220),
    "yellow": (240, 220, 40),
    "black": (20, 20, 20),
    "white": (240, 240, 240),
    "orange": (245, 140, 20),
    "purple": (130, 40, 170),
}
CAPTION_NOUNS = ("comedy", "western", "horror", "drama", "space", "love")


def colour_picture(colour: str, seed: int = 0, size: int = 32) -> bytes:
    """A PNG mostly of one of `COLOURS` (with pixel noise), and a smaller patch of another colour."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.array(COLOURS[colour], np.float32) + rng.normal(0, 20, (size, size, 3))
    other = list(COLOURS)[rng.integers(len(COLOURS))]
    y, x, h, w = *rng.integers(0, size // 2, 2), *rng.integers(size // 8, size // 2, 2)
    pixels[y : y + h, x : x + w] = COLOURS[other]
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def colour_caption(colour: str, rng) -> str:
    """'a red poster', 'a red poster of a western film', ...: the colour is the only constant."""
    noun = CAPTION_NOUNS[rng.integers(len(CAPTION_NOUNS))]
    templates = ("a {c} poster", "{c} poster", "a {c} poster of a {n} film", "{n} film with a {c} poster")
    return templates[rng.integers(len(templates))].format(c=colour, n=noun)


def tiny_clip(directory, *, train_steps: int = 0, seed: int = 0):
    """Save a tiny CLIP (about 60k parameters, 32x32 pictures, one token per character) that
    `images.ImageEncoder` loads like a real one: transformers `CLIPModel` + `CLIPProcessor`.

    Untrained, its vectors are random but deterministic. With `train_steps`, it first learns the
    colour words: each step is one contrastive batch of a `colour_picture` per colour with a
    `colour_caption` naming it, so a colour's words and pictures end up close (150 steps take a
    few seconds on one core).
    """
    import io
    from pathlib import Path

    import numpy as np
    import torch
    from PIL import Image
    from tokenizers import pre_tokenizers
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # every byte, so no word is unknown
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab |= {c: len(vocab) + n for n, c in enumerate(alphabet)}
    vocab |= {c + "</w>": len(vocab) + n for n, c in enumerate(alphabet)}
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=CLIPTokenizer(vocab=vocab, merges=[]),
    )
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            **small,
            "vocab_size": len(vocab),
            "max_position_embeddings": 64,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one core
    try:
        torch.manual_seed(seed)
        model = CLIPModel(config)
        rng = np.random.default_rng(seed)
        optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
        for step in range(train_steps):
            colours = list(COLOURS)
            pictures = [
                Image.open(io.BytesIO(colour_picture(c, seed=seed * 100_000 + step * 10 + n)))
                for n, c in enumerate(colours)
            ]
            batch = processor(
                text=[colour_caption(c, rng) for c in colours], images=pictures, padding=True, return_tensors="pt"
            )
            loss = model(**batch, return_loss=True).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
