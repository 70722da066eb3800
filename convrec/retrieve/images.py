"""Pictures and words in one CLIP space: item posters -> vectors, queries -> the same space.

`ImageEncoder` wraps a transformers `CLIPModel` + `CLIPProcessor` loaded from a local directory
(anything saved with `save_pretrained`) or a hub name, which transformers downloads when online.
`encode_images` takes local paths, http(s) URLs or raw bytes and never fails on one picture: a
missing file, an unreadable image, an HTTP error or a timeout is skipped and reported, so one dead
poster link cannot stop a build. Downloads are kept under a cache directory, keyed by URL.

What may be read depends on where a picture comes from (`Origin`). The catalogue's posters are
the operator's choice: local files and any http(s) address. A picture from a request (an upload,
`encode_image`) is its bytes or a URL of a public address: never a file on the server, never a
loopback, private or link-local address, checked again at every redirect (at most
`MAX_REDIRECTS`) and connected to at the address that was checked. Every picture is capped at
`MAX_PICTURE_BYTES` and `MAX_PICTURE_PIXELS`, and a download must end within its timeout.

`ImageIndex` holds the vectors of the items that have a picture (an `ItemIndex` saved beside the
text one as images.faiss / image_ids.npy) and is searched with the same row mask over the whole
catalogue as the text index, so hard filters hold for picture search too.

Left out on purpose: retries and parallel downloads, frames after the first of an animated image, and sentence-transformers' CLIP packaging (point `image_model` at its
`0_CLIPModel` folder, which is a transformers CLIP).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
import numpy as np

from convrec.core.config import Settings
from convrec.core.errors import ImageError, IndexMissing, ModelNotFound
from convrec.core.files import write_atomic
from convrec.core.types import Item
from convrec.retrieve.embed import default_device
from convrec.retrieve.index import ItemIndex

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Picture = str | Path | bytes  # a local path, an http(s) URL, or the bytes of an uploaded file
FILES = ["images.faiss", "image_ids.npy"]
MAX_PICTURE_BYTES = 10 * 1024 * 1024  # a poster or a photo is far less
MAX_PICTURE_PIXELS = 50_000_000  # decoded as RGB: 150 MB; CLIP looks at 224 x 224 anyway
MAX_REDIRECTS = 3

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a picture reference came from, and so what reading it may touch."""

    name: str
    local_files: bool  # may name a file on this machine
    private_hosts: bool  # may name, or be redirected to, a loopback, private or link-local address


REQUEST = Origin("request", local_files=False, private_hosts=False)  # an upload: whoever sent it
CATALOGUE = Origin("catalogue", local_files=True, private_hosts=True)  # posters the operator's catalogue names


def read_picture(
    source: Picture,
    *,
    origin: Origin = REQUEST,
    timeout_s: float = 5.0,
    cache_dir: Path | None = None,
    client: httpx.Client | None = None,
    max_bytes: int = MAX_PICTURE_BYTES,
) -> PILImage:
    """An RGB PIL image from bytes, an http(s) URL or (from the catalogue) a local path, read
    as `origin` allows and at most `max_bytes` long; `ImageError` says why not."""
    from PIL import Image

    if isinstance(source, bytes):
        data, name = source, "the uploaded picture"
        if len(data) > max_bytes:
            raise ImageError(f"{name} is over {max_bytes:,} bytes, the most that is read; send a smaller one.")
    elif str(source).startswith(("http://", "https://")) or "://" in str(source):
        data, name = _fetch(str(source), origin, timeout_s, cache_dir, client, max_bytes), str(source)
    elif not origin.local_files:
        raise ImageError(
            f"{str(source)[:100]}: a picture from a request is its bytes or a public http(s) URL, never a file on the server."
        )
    else:
        name = str(source)
        data = _read_file(Path(source), max_bytes)
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            if width * height > MAX_PICTURE_PIXELS:
                raise ImageError(
                    f"{name} is {width} x {height} pixels, more than the {MAX_PICTURE_PIXELS:,} that are read."
                )
            return picture.convert("RGB")
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as e:  # PIL raises SyntaxError for some broken files
        raise ImageError(f"{name} is not a readable image ({e})") from e


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # not more, whatever the file is
    except OSError as e:
        raise ImageError(f"{path}: cannot read it ({e.strerror or e})") from e
    if len(data) > max_bytes:
        raise ImageError(f"{path} is over {max_bytes:,} bytes, the most that is read.")
    return data


def _fetch(
    url: str, origin: Origin, timeout_s: float, cache_dir: Path | None, client: httpx.Client | None, max_bytes: int
) -> bytes:
    """The body at `url`, following at most MAX_REDIRECTS redirects, each checked as `origin`
    allows; the whole download must end within `timeout_s`."""
    cached = Path(cache_dir) / hashlib.sha256(url.encode()).hexdigest() if cache_dir else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    deadline, asked = time.monotonic() + timeout_s, url
    own = client is None
    http = client or httpx.Client()
    try:
        for _ in range(MAX_REDIRECTS + 1):
            target, headers, extensions = _checked(url, origin)
            with http.stream(
                "GET", target, headers=headers, extensions=extensions, timeout=timeout_s, follow_redirects=False
            ) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    continue
                response.raise_for_status()
                data = _read_capped(response, url, max_bytes, deadline, timeout_s)
                break
        else:
            raise ImageError(f"{asked}: more than {MAX_REDIRECTS} redirects.")
    except httpx.HTTPStatusError as e:
        raise ImageError(f"{url}: HTTP {e.response.status_code}") from e
    except httpx.TimeoutException as e:
        raise ImageError(f"{url}: no answer within {timeout_s:g} s") from e
    except httpx.HTTPError as e:
        raise ImageError(f"{url}: {e}") from e
    finally:
        if own:
            http.close()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, data)
    return data


def _read_capped(response: httpx.Response, url: str, max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    """The (decoded) body, refused as soon as it is known to pass `max_bytes` or the deadline."""
    declared = response.headers.get("content-length", "")
    too_big = f"{url}: the picture is over {max_bytes:,} bytes, the most that is read."
    if declared.isdigit() and int(declared) > max_bytes:
        raise ImageError(too_big)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ImageError(too_big)
        if time.monotonic() > deadline:
            raise ImageError(f"{url}: no answer within {timeout_s:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _checked(url: str, origin: Origin) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(the URL to connect to, headers, httpx extensions) for `url`, or ImageError.

    Without `origin.private_hosts` the host is resolved here, every address it has must be
    public, and the connection goes to the checked address (the Host header and TLS name stay
    the URL's), so a second DNS answer cannot point it elsewhere.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageError(f"{url[:100]}: only http(s) URLs are read for pictures.")
    if origin.private_hosts:
        return url, {}, {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ImageError(f"{url}: cannot resolve {parts.hostname} ({e})") from e
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
    for address in addresses:
        if not _public(address):
            raise ImageError(
                f"{url}: refused, {parts.hostname} is at {address}, a {_kind(address)} address; a picture "
                "from a request is read only from a public address."
            )
    address = addresses[0]
    host = f"[{address}]" if address.version == 6 else str(address)
    pinned = parts._replace(netloc=f"{host}:{port}").geturl()
    headers = {"Host": parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"}
    return pinned, headers, {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address on the public internet (an IPv4-mapped IPv6 one is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What a non-public address is, for the message.

    >>> _kind(ipaddress.ip_address("169.254.169.254")), _kind(ipaddress.ip_address("::ffff:127.0.0.1"))
    ('link-local', 'loopback')
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


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

    def encode_images(self, sources: Sequence[Picture], *, batch_size: int = 32, origin: Origin = CATALOGUE) -> Encoded:
        """Pictures -> vectors, `batch_size` at a time; one that cannot be read is skipped and reported.
        `origin` says what may be read for them; downloads are cached for the catalogue only."""
        import torch

        cache_dir = self.cache_dir if origin is CATALOGUE else None

        vectors, ok, failed = [], [], {}
        with httpx.Client() as client:
            for start in range(0, len(sources), batch_size):
                pictures = []
                for position in range(start, min(start + batch_size, len(sources))):
                    try:
                        pictures.append(
                            read_picture(
                                sources[position],
                                origin=origin,
                                timeout_s=self.timeout_s,
                                cache_dir=cache_dir,
                                client=client,
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
        """One picture from a request (an upload: bytes, or a public URL) -> its vector;
        `ImageError` when it cannot or may not be read."""
        encoded = self.encode_images([source], origin=REQUEST)
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
    index = ItemIndex.build(encoded.vectors, ids)
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
