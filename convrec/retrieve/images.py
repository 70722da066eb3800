"""Pictures and words in one CLIP space: item posters -> vectors, queries -> the same space.

`ImageEncoder` wraps a transformers `CLIPModel` + `CLIPProcessor` loaded from a local directory
(anything saved with `save_pretrained`) or a hub name, which transformers downloads when online.
`encode_images` takes local paths, http(s) URLs or raw bytes and never fails on one picture: a
missing file, an unreadable image, an HTTP error or a timeout is skipped and reported, so one dead
poster link cannot stop a build. Downloads are kept under a cache directory, keyed by URL.

`ImageIndex` holds the vectors of the items that have a picture (an `ItemIndex` saved beside the
text one as images.faiss / image_ids.npy) and is searched with the same row mask over the whole
catalogue as the text index, so hard filters hold for picture search too.

Left out on purpose: retries and parallel downloads, a size limit on downloads, frames after the
first of an animated image, and sentence-transformers' CLIP packaging (point `image_model` at its
`0_CLIPModel` folder, which is a transformers CLIP).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from convrec.core.config import Settings
from convrec.core.errors import ImageError, IndexMissing, ModelNotFound
from convrec.core.files import write_atomic
from convrec.core.types import Item
from convrec.retrieve.embed import default_device
from convrec.retrieve.index import ItemIndex, choose_kind

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Picture = str | Path | bytes  # a local path, an http(s) URL, or the bytes of an uploaded file
FILES = ["images.faiss", "image_ids.npy"]

logger = logging.getLogger(__name__)


def read_picture(
    source: Picture, *, timeout_s: float = 5.0, cache_dir: Path | None = None, client: httpx.Client | None = None
) -> PILImage:
    """An RGB PIL image from a path, an http(s) URL or bytes; `ImageError` says why not."""
    from PIL import Image

    if isinstance(source, bytes):
        data, name = source, "the uploaded picture"
    elif str(source).startswith(("http://", "https://")):
        data, name = _fetch(str(source), timeout_s, cache_dir, client), str(source)
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise ImageError(f"{name}: cannot read it ({e.strerror or e})") from e
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.convert("RGB")
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as e:  # PIL raises SyntaxError for some broken files
        raise ImageError(f"{name} is not a readable image ({e})") from e


def _fetch(url: str, timeout_s: float, cache_dir: Path | None, client: httpx.Client | None) -> bytes:
    cached = Path(cache_dir) / hashlib.sha256(url.encode()).hexdigest() if cache_dir else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    try:
        response = (client or httpx).get(url, timeout=timeout_s, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPStatusError as e:
        raise ImageError(f"{url}: HTTP {e.response.status_code}") from e
    except httpx.TimeoutException as e:
        raise ImageError(f"{url}: no answer within {timeout_s:g} s") from e
    except httpx.HTTPError as e:
        raise ImageError(f"{url}: {e}") from e
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, response.content)
    return response.content


@dataclass
class Encoded:
    """The vectors of the pictures that could be read, and why the others could not.

    `ok[j]` is the input position of `vectors[j]`; `failed` maps input positions to a reason.
    """

    vectors: np.ndarray
    ok: np.ndarray
    failed: dict[int, str]


class ImageEncoder:
    """A CLIP model: pictures and texts -> L2-normalised float32 vectors in one space."""

    def __init__(
        self, model: str | Path, *, cache_dir: Path | None = None, timeout_s: float = 5.0, device: str | None = None
    ) -> None:
        from transformers import CLIPModel, CLIPProcessor

        try:
            self.model = CLIPModel.from_pretrained(str(model))
            self.processor = CLIPProcessor.from_pretrained(str(model))
        except (OSError, ValueError) as e:
            raise ModelNotFound(
                f"the CLIP model {model} could not be loaded ({str(e).splitlines()[0]}). Set CONVREC_IMAGE_MODEL to a "
                "local CLIP directory, or to a hub name such as openai/clip-vit-base-patch32 on a machine that is online."
            ) from e
        self.device = device or default_device()
        self.model.to(self.device).eval()
        self.name = str(model)
        self.dim = int(self.model.config.projection_dim)
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)
        self.cache_dir, self.timeout_s = cache_dir, timeout_s

    def encode_text(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Texts in the picture space ("a poster with a red car" lands near red-car posters)."""
        import torch

        out = []
        for start in range(0, len(texts), batch_size):
            tokens = self.processor.tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                pooled = self.model.text_model(
                    input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
                ).pooler_output
                out.append(self.model.text_projection(pooled))
        return self._normalised(out)

    def encode_images(self, sources: Sequence[Picture], *, batch_size: int = 32) -> Encoded:
        """Pictures -> vectors, `batch_size` at a time; one that cannot be read is skipped and reported."""
        import torch

        vectors, ok, failed = [], [], {}
        with httpx.Client() as client:
            for start in range(0, len(sources), batch_size):
                pictures = []
                for position in range(start, min(start + batch_size, len(sources))):
                    try:
                        pictures.append(
                            read_picture(
                                sources[position], timeout_s=self.timeout_s, cache_dir=self.cache_dir, client=client
                            )
                        )
                        ok.append(position)
                    except ImageError as e:
                        failed[position] = str(e)
                if not pictures:
                    continue
                pixels = self.processor.image_processor(pictures, return_tensors="pt")["pixel_values"].to(self.device)
                with torch.inference_mode():
                    vectors.append(
                        self.model.visual_projection(self.model.vision_model(pixel_values=pixels).pooler_output)
                    )
        return Encoded(self._normalised(vectors), np.array(ok, dtype=np.int64), failed)

    def encode_image(self, source: Picture) -> np.ndarray:
        """One picture (an upload) -> its vector; `ImageError` when it cannot be read."""
        encoded = self.encode_images([source])
        if encoded.failed:
            raise ImageError(encoded.failed[0])
        return encoded.vectors[0]

    def _normalised(self, batches: list[Any]) -> np.ndarray:
        if not batches:
            return np.zeros((0, self.dim), np.float32)
        x = np.concatenate([b.float().cpu().numpy() for b in batches]).astype(np.float32)
        return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


class ImageIndex:
    """The CLIP vectors of the items that have a picture, searched with a mask over catalogue rows."""

    def __init__(self, encoder: ImageEncoder, index: ItemIndex, catalogue_ids: np.ndarray) -> None:
        self.encoder, self.index = encoder, index
        row = {int(i): r for r, i in enumerate(catalogue_ids)}
        self.rows = np.array([row[int(i)] for i in index.ids], dtype=np.int64)  # catalogue row of each picture

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (item ids, cosines) among the allowed items that have a picture."""
        return self.index.search(query, k, allowed[self.rows])

    def scores_for(self, query: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Cosine of the query with each item's picture. An item without one gets the lowest score
        present, so after min-max scaling it gains nothing and loses no more than the worst picture."""
        has = np.array([int(i) in self.index.position for i in item_ids], dtype=bool)
        out = np.zeros(len(item_ids), np.float32)
        if has.any():
            out[has] = self.index.scores_for(query, item_ids[has])
            out[~has] = out[has].min()
        return out


def build_image_index(
    items: Sequence[Item], settings: Settings, index_dir: Path, log: Callable[[str], Any] = print
) -> dict[str, Any] | None:
    """Embed the items' pictures with `settings.image_model` and save the image index in index_dir.

    Returns the manifest's "images" section, or None after a warning when the weights cannot be
    loaded: the build then goes on text-only.
    """
    try:
        encoder = ImageEncoder(
            settings.image_model, cache_dir=settings.cache_dir / "images", timeout_s=settings.image_timeout_s
        )
    except ModelNotFound as e:
        log(f"warning: {e} Building a text-only index; run `convrec build-index --force` once the model is there.")
        return None
    pictured = [it for it in items if it.image]
    log(f"embedding {len(pictured):,} item pictures with {settings.image_model}")
    encoded = encoder.encode_images([it.image for it in pictured if it.image], batch_size=settings.embed_batch_size)
    if encoded.failed:
        examples = "; ".join(f"{pictured[p].label()}: {why}" for p, why in list(encoded.failed.items())[:3])
        log(f"skipped {len(encoded.failed):,} of {len(pictured):,} pictures that could not be read, e.g. {examples}")
    ids = np.array([pictured[p].item_id for p in encoded.ok], dtype=np.int64)
    index = ItemIndex.build(encoded.vectors, ids, kind=choose_kind(len(ids)))
    index.save(index_dir, name="image")
    return {
        "model": settings.image_model,
        "dim": encoder.dim,
        "kind": index.kind,
        "with_picture": len(pictured),
        "embedded": len(ids),
        "failed": len(encoded.failed),
        "files": FILES,
    }


def load_image_index(
    index_dir: Path, section: dict[str, Any] | None, settings: Settings, catalogue_ids: np.ndarray
) -> ImageIndex | None:
    """Open the image index a build wrote (`section` is its manifest entry) with the CLIP model that
    made it; None when the settings ask for no pictures, the build made none, or the weights are gone
    (a warning: the recommender then answers from text alone)."""
    if not settings.image_model or not section:
        return None
    if section["model"] != settings.image_model:
        raise IndexMissing(
            f"{index_dir}/ holds pictures embedded with {section['model']} but the config asks for "
            f"{settings.image_model}: run `convrec build-index`."
        )
    try:
        encoder = ImageEncoder(
            settings.image_model, cache_dir=settings.cache_dir / "images", timeout_s=settings.image_timeout_s
        )
    except ModelNotFound as e:
        logger.warning("%s Answering without picture search.", e)
        return None
    return ImageIndex(encoder, ItemIndex.load(index_dir, section["kind"], name="image"), catalogue_ids)
