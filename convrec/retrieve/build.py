"""`convrec build-index`: catalogue -> embeddings -> FAISS index + CF model, under index/.

The manifest is written last, so a build that dies half-way leaves no manifest and is
redone. Re-running with the same inputs (catalogue hash, embedding model, CF settings,
index kind) does no work; a rebuild embeds only the items whose text or encoder changed and
takes the other vectors from the previous index (`text_keys.npy`; `--force` embeds all).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from convrec.core.config import Settings
from convrec.core.errors import CatalogError, EncoderUnsupported, IndexMissing
from convrec.core.files import write_atomic
from convrec.data.catalog import Catalog
from convrec.data.documents import item_text
from convrec.data.knowledge import KnowledgeReport, add_knowledge, knowledge_files
from convrec.data.loaders import load_catalog_with_knowledge
from convrec.data.profiles import PROFILES, Profile, on_items, read_profiles
from convrec.retrieve.attributes import KEYS as ATTRIBUTE_KEYS
from convrec.retrieve.attributes import Attributes
from convrec.retrieve.cf import Scorer, make_cf
from convrec.retrieve.embed import (
    EMBED_CHUNK,
    Encoder,
    OnnxEncoder,
    SentenceEncoder,
    default_device,
    embed_to_disk,
    text_key,
)
from convrec.retrieve.images import build_image_index
from convrec.retrieve.index import ItemIndex, choose_kind

FORMAT = 1
MANIFEST = "manifest.json"
logger = logging.getLogger(__name__)

TEXT_KEYS = "text_keys.npy"  # per index row: a digest of the encoder's name and the item's text
PARTIAL = "embedding.partial"  # vectors being embedded, kept until the manifest is written
PACKAGES = ("convrec", "faiss-cpu", "sentence-transformers", "torch", "onnxruntime", "transformers", "numpy", "scipy")


def make_encoder(settings: Settings) -> Encoder:
    """The encoder of `settings.embed_model` on the backend `settings.embed_backend` names ("auto":
    ONNX Runtime on a CPU, falling back to torch for a model it cannot run; torch on CUDA)."""
    from convrec.data.models import resolve_embedder

    path, backend = resolve_embedder(settings), settings.embed_backend
    if backend == "auto":
        backend = "torch" if default_device() == "cuda" else "onnx"
    if backend == "onnx":
        directory = Path(settings.cache_dir).expanduser() / "embedders" / "onnx"
        try:
            return OnnxEncoder(path, settings.embed_model, directory)
        except EncoderUnsupported as e:
            if settings.embed_backend == "onnx":
                raise
            logger.info("%s; embedding with torch", e)
    return SentenceEncoder(path, settings.embed_model)


def _inputs(catalog: Catalog, settings: Settings, cf: Scorer, profiles: dict[int, Profile]) -> dict[str, Any]:
    written = "".join(profiles[i].to_json() for i in sorted(profiles))
    return {
        "format": FORMAT,
        "catalog_hash": catalog.content_hash(),
        **({"profiles": hashlib.blake2b(written.encode(), digest_size=16).hexdigest()} if profiles else {}),
        "embed_model": settings.embed_model,
        "cf": cf.config(),
        "index_kind": choose_kind(len(catalog)) if settings.index_kind == "auto" else settings.index_kind,
        **({"image_model": settings.image_model} if settings.image_model else {}),
    }


def _knowledge(settings: Settings) -> list[Path]:
    """The knowledge tables the settings name: the details file first, then `knowledge` in order."""
    return knowledge_files([*([settings.details] if settings.details else []), settings.knowledge])


def _load_catalog(settings: Settings) -> tuple[Catalog, KnowledgeReport | None]:
    """The catalogue the settings name (a mapped file (`catalog`) when set, else `dataset`) with what its
    knowledge tables say, and their coverage (None without tables)."""
    files = _knowledge(settings)
    if settings.catalog:
        from convrec.data.byo import load_file_catalog

        catalog = load_file_catalog(
            settings.catalog, settings.catalog_map, interactions=settings.interactions,
            interactions_map=settings.interactions_map,
        )  # fmt: skip
        return add_knowledge(catalog, files, knowledge_map=settings.knowledge_map) if files else (catalog, None)
    if settings.interactions:
        raise CatalogError("an interactions file goes with a catalogue file (--catalog); a dataset brings its own")
    return load_catalog_with_knowledge(
        settings.dataset, files, knowledge_map=settings.knowledge_map, cache_dir=settings.cache_dir
    )


def _describe(catalog: Catalog, settings: Settings, knowledge: KnowledgeReport | None) -> dict[str, Any]:
    """The manifest's record of the catalogue: where it came from, how it was mapped, what an item is called."""
    if settings.catalog:
        source = {"source": settings.catalog, "map": settings.catalog_map}
        if settings.interactions:
            source.update(interactions_file=settings.interactions, interactions_map=settings.interactions_map)
    else:
        source = {"source": str(settings.dataset)}
    return {
        "name": catalog.name,
        **source,
        "domain_noun": settings.domain_noun,
        "items": len(catalog),
        "interactions": len(catalog.interactions),
        "users": int(catalog.interactions["user_id"].nunique()) if len(catalog.interactions) else 0,
        **(
            {"knowledge": {"files": [str(p) for p in _knowledge(settings)], **knowledge.to_dict()}} if knowledge else {}
        ),
    }


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        raise IndexMissing(f"{index_dir}/ has no index ({MANIFEST} is missing): run `convrec build-index`.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["inputs"]["embed_model"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise IndexMissing(f"{path} is corrupted ({e}): run `convrec build-index --force`.") from e
    return manifest


def build_index(
    settings: Settings,
    *,
    force: bool = False,
    progress: bool = True,
    encoder: Encoder | None = None,
    log=print,
    embed_chunk: int = EMBED_CHUNK,
) -> tuple[dict[str, Any], bool]:
    """Build index/ if its inputs changed; returns (manifest, whether anything was built).

    The vectors are embedded `embed_chunk` items at a time into index/embedding.partial/ (see
    `embed_to_disk`): a build that dies while embedding resumes at the last finished chunk.
    """
    started = time.perf_counter()
    index_dir = Path(settings.index_dir)
    catalog, knowledge = _load_catalog(settings)
    if knowledge is not None:
        log(str(knowledge))
        for problem in [p for source in knowledge.sources for p in source.problems][:5]:
            log(f"  {problem}")
    cf = make_cf(settings, n_items=len(catalog))
    profiles = read_profiles(index_dir / PROFILES, {int(i): catalog.get(int(i)) for i in catalog.ids()})
    inputs = _inputs(catalog, settings, cf, profiles)
    described = _describe(catalog, settings, knowledge)
    if not force:
        try:
            old = read_manifest(index_dir)
            if old["inputs"] == inputs and all((index_dir / f).exists() for f in old["files"]):
                stale = old.get("catalog") != described  # a new domain noun or source path needs no rebuild
                if ATTRIBUTE_KEYS not in old["files"]:  # built before the attribute vectors were stored
                    old["files"] += _store_attributes(index_dir, catalog, profiles, encoder or make_encoder(settings))
                    log("stored the attribute names' vectors")
                    stale = True
                if stale:
                    old["catalog"] = described
                    _write_json(index_dir / MANIFEST, old)
                log(f"index/ is up to date ({len(catalog):,} items); nothing to do")
                return old, False
            log(
                "inputs changed since the last build: "
                + ", ".join(k for k in inputs if old["inputs"].get(k) != inputs[k])
            )
        except IndexMissing:
            pass

    previous = None if force else _previous_vectors(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / MANIFEST).unlink(missing_ok=True)
    timings = {"load_catalog_s": time.perf_counter() - started}

    t = time.perf_counter()
    encoder = encoder or make_encoder(settings)
    ids = catalog.ids()
    texts = [item_text(catalog.get(int(i)), profiles[int(i)].text() if int(i) in profiles else "") for i in ids]
    keys = np.array([text_key(encoder.name, text) for text in texts], dtype="S16")
    vectors, fresh = _reuse(keys, previous)
    log(
        f"embedding {len(fresh):,} of {len(texts):,} items with {settings.embed_model}"
        + (f" (the other {len(texts) - len(fresh):,} are unchanged)" if len(fresh) < len(texts) else "")
    )
    if len(fresh):
        new = embed_to_disk(
            [texts[i] for i in fresh], encoder, index_dir / PARTIAL, batch_size=settings.embed_batch_size,
            chunk=embed_chunk, log=log if progress else None,
        )  # fmt: skip
        if vectors is None:  # nothing reused: `fresh` is every row, in order
            vectors = new
        else:
            vectors[fresh] = new
    timings["embed_s"] = time.perf_counter() - t
    assert vectors is not None  # every row was reused or embedded
    backend = getattr(encoder, "backend", type(encoder).__name__)
    per_s = len(fresh) / max(timings["embed_s"], 1e-9)
    if len(fresh):
        log(f"embedded {len(fresh):,} items in {timings['embed_s']:.1f} s with {backend}: {per_s:,.0f} items/s")

    t = time.perf_counter()
    index = ItemIndex.build(vectors, ids, kind=settings.index_kind)
    index.save(index_dir)
    np.save(index_dir / TEXT_KEYS, keys)
    timings["faiss_s"] = time.perf_counter() - t

    images = None
    if settings.image_model:
        t = time.perf_counter()
        images = build_image_index([catalog.get(int(i)) for i in ids], settings, index_dir, log)
        timings["images_s"] = time.perf_counter() - t

    t = time.perf_counter()
    cf.fit(catalog.interactions, ids)
    cf.save(index_dir)
    timings["cf_s"] = time.perf_counter() - t

    t = time.perf_counter()
    attribute_files = _store_attributes(index_dir, catalog, profiles, encoder, reuse=not force)
    timings["attributes_s"] = time.perf_counter() - t

    catalog.save(index_dir / "catalog")
    timings["total_s"] = time.perf_counter() - started
    manifest = {
        "inputs": inputs,
        "catalog": described,
        "embedding": {
            "model": settings.embed_model,
            "dim": int(vectors.shape[1]),
            "embedded": len(fresh),
            "backend": backend,
            "items_per_s": round(per_s, 1),
        },
        "index": {"kind": index.kind, "items": len(index), **({"tuning": index.tuning} if index.tuning else {})},
        **({"images": images} if images else {}),
        "files": [
            "items.faiss",
            "item_ids.npy",
            TEXT_KEYS,
            *cf.files,
            "catalog",
            *attribute_files,
            *(images["files"] if images else []),
        ],
        "packages": _versions(),
        "python": platform.python_version(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    _write_json(index_dir / MANIFEST, manifest)
    shutil.rmtree(index_dir / PARTIAL, ignore_errors=True)
    log(f"built index/ in {timings['total_s']:.1f} s: {len(index):,} items, {index.kind}, dim {vectors.shape[1]}")
    return manifest, True


def _store_attributes(
    index_dir: Path, catalog: Catalog, profiles: dict[int, Profile], encoder: Encoder, *, reuse: bool = True
) -> list[str]:
    """Encode the attribute vocabulary's names once, so that no request does (see `Attributes.load_vectors`);
    with `reuse`, only the names the last build did not store."""
    items = list(on_items({int(i): catalog.get(int(i)) for i in catalog.ids()}, profiles).values())
    return Attributes.from_items(items, np.zeros((len(items), 0))).save_vectors(index_dir, encoder, reuse=reuse)


def _previous_vectors(index_dir: Path) -> tuple[np.ndarray, ItemIndex] | None:
    """The text keys and the index of the last complete build, if there is one to reuse."""
    try:
        manifest = read_manifest(index_dir)
        keys = np.load(index_dir / TEXT_KEYS)
        index = ItemIndex.load(index_dir, manifest["index"]["kind"], tuning=manifest["index"].get("tuning"))
    except (IndexMissing, OSError, ValueError, RuntimeError, KeyError):
        return None
    return (keys, index) if len(keys) == len(index) else None


def _reuse(keys: np.ndarray, previous: tuple[np.ndarray, ItemIndex] | None) -> tuple[np.ndarray | None, np.ndarray]:
    """(vectors with the reusable rows filled, or None; the rows still to embed)."""
    if previous is None:
        return None, np.arange(len(keys))
    old_keys, old_index = previous
    old_row = {k: r for r, k in enumerate(old_keys.tolist())}
    rows = np.array([old_row.get(k, -1) for k in keys.tolist()], dtype=np.int64)
    known = rows >= 0
    if not known.any():
        return None, np.arange(len(keys))
    vectors = np.zeros((len(keys), old_index.dim), np.float32)
    vectors[known] = old_index.index.reconstruct_batch(rows[known])
    return vectors, np.flatnonzero(~known)


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str))
