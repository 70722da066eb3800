"""Size and origin limits on what convrec reads from outside: pictures (from a request or from the
catalogue), uploads to the browser chat, joined model parts and catalogue zips.

Every server here listens on 127.0.0.1; the refused addresses are refused before any connection."""

from __future__ import annotations

import ipaddress
import struct
import threading
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from convrec.core.errors import CatalogError, ChecksumMismatch, ImageError
from convrec.data import loaders, models
from convrec.retrieve import images
from convrec.retrieve.images import CATALOGUE, REQUEST, Origin, read_picture
from convrec.testing import colour_picture

SMALL = colour_picture("red", seed=1)  # a few hundred bytes
BIG = colour_picture("blue", seed=2, size=256)  # tens of kilobytes


class Handler(BaseHTTPRequestHandler):
    """/small.png, /big.png (with Content-Length), /big-stream.png (without: read until close),
    /redirect (-> /small.png), /loop (-> itself), /to-file (-> file:///etc/passwd),
    /to-other-loopback (-> 127.0.0.2, the same port)."""

    protocol_version = "HTTP/1.0"
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        self.hits.append(self.path)
        port = self.server.server_address[1]
        moves = {
            "/redirect": "/small.png",
            "/loop": "/loop",
            "/to-file": "file:///etc/passwd",
            "/to-other-loopback": f"http://127.0.0.2:{port}/small.png",
        }
        if self.path in moves:
            self.send_response(302)
            self.send_header("Location", moves[self.path])
            self.end_headers()
            return
        body = {"/small.png": SMALL, "/big.png": BIG, "/big-stream.png": BIG}.get(self.path)
        self.send_response(200 if body else 404)
        if body and self.path != "/big-stream.png":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body or b"")
        except OSError:
            pass  # the client stopped reading at its limit

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


LOOPBACK_OK = Origin("a test that allows loopback", local_files=False, private_hosts=True)


# -- pictures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big.png", "/big-stream.png"])
def test_a_picture_over_the_size_cap_is_refused_without_reading_it_all(server, path):
    assert len(BIG) > 20_000
    for origin in (CATALOGUE, LOOPBACK_OK):
        with pytest.raises(ImageError, match="over 20,000 bytes"):
            read_picture(server + path, origin=origin, max_bytes=20_000)
    assert read_picture(server + path, origin=CATALOGUE, max_bytes=len(BIG)).size == (256, 256)


def test_uploaded_bytes_and_catalogue_files_are_capped_too(tmp_path):
    with pytest.raises(ImageError, match="uploaded picture is over 100 bytes"):
        read_picture(BIG, max_bytes=100)
    poster = tmp_path / "poster.png"
    poster.write_bytes(BIG)
    with pytest.raises(ImageError, match="over 100 bytes"):
        read_picture(poster, origin=CATALOGUE, max_bytes=100)
    assert images.MAX_PICTURE_BYTES == 10 * 1024 * 1024


def test_a_picture_of_too_many_pixels_is_refused_before_it_is_decoded():
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8_000, 8_000, 8, 2, 0, 0, 0))
    huge += chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(ImageError, match="8000 x 8000 pixels"):
        read_picture(huge)


@pytest.mark.parametrize(
    "url, why",
    [
        ("/small.png", "loopback"),  # the test server itself
        ("http://localhost:9/x.png", "loopback"),
        ("http://[::1]:9/x.png", "loopback"),
        ("http://10.1.2.3/x.png", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:127.0.0.1]:9/x.png", "loopback"),
        ("http://0.0.0.0:9/x.png", "unspecified"),
        ("ftp://example.org/x.png", "only http"),
    ],
)
def test_a_request_cannot_make_the_server_read_a_private_address(server, url, why):
    before = len(Handler.hits)
    with pytest.raises(ImageError, match=why):
        read_picture(server + url if url.startswith("/") else url, origin=REQUEST)
    assert len(Handler.hits) == before  # refused before connecting


def test_a_request_cannot_make_the_server_read_its_files(tmp_path):
    poster = tmp_path / "secret.png"
    poster.write_bytes(SMALL)
    for source in (str(poster), poster, "/etc/passwd"):
        with pytest.raises(ImageError, match="never a file on the server"):
            read_picture(source)
    assert read_picture(poster, origin=CATALOGUE).size == (32, 32)  # the operator's catalogue may


def test_redirects_are_followed_a_few_times_and_each_is_checked(server, monkeypatch):
    assert read_picture(server + "/redirect", origin=CATALOGUE).size == (32, 32)
    with pytest.raises(ImageError, match="more than 3 redirects"):
        read_picture(server + "/loop", origin=CATALOGUE)
    with pytest.raises(ImageError, match="only http"):
        read_picture(server + "/to-file", origin=CATALOGUE)

    # Pretend 127.0.0.1 were a public address: the redirect it answers with, to another
    # loopback address, is checked again and refused.
    checked = images._public
    monkeypatch.setattr(images, "_public", lambda ip: ip == ipaddress.ip_address("127.0.0.1") or checked(ip))
    assert read_picture(server + "/redirect").size == (32, 32)
    with pytest.raises(ImageError, match=r"127\.0\.0\.2.*loopback"):
        read_picture(server + "/to-other-loopback")


def test_the_browser_chat_refuses_an_upload_over_the_cap():
    from convrec.serve.api import Running, create_server
    from convrec.serve.service import make_service

    from .test_pipeline import make_recommender

    with Running(create_server(make_service(make_recommender()))) as server:
        files = {"files": ("big.png", b"\x89PNG" + bytes(images.MAX_PICTURE_BYTES), "image/png")}
        refused = httpx.post(f"{server.url}/gradio_api/upload", files=files, timeout=60)
        small = {"files": ("small.png", SMALL, "image/png")}
        taken = httpx.post(f"{server.url}/gradio_api/upload", files=small, timeout=60)
    assert refused.status_code == 413, refused.text[:200]
    assert taken.status_code == 200, taken.text[:200]


def test_every_request_body_outside_the_api_is_bounded_too():
    from fastapi.testclient import TestClient

    from convrec.serve.api import MAX_UPLOAD_BYTES, create_api
    from convrec.serve.service import make_service

    from .test_pipeline import make_recommender

    client = TestClient(create_api(make_service(make_recommender()), max_upload_bytes=1_000))
    r = client.post("/gradio_api/queue/join", content=b"x" * 1_001)
    assert r.status_code == 413 and "over 1,000 bytes" in r.json()["error"]
    assert client.post("/gradio_api/queue/join", content=b"x" * 1_000).status_code == 404  # not refused for size
    assert MAX_UPLOAD_BYTES > images.MAX_PICTURE_BYTES


# -- model parts ---------------------------------------------------------------------------------


def test_joining_stops_at_the_expected_size(tmp_path):
    read = []

    def endless():
        for n in range(10_000):
            read.append(n)
            yield b"x" * 1000

    with pytest.raises(ChecksumMismatch, match="more than the expected 5,000 bytes"):
        models.write_verified(endless(), tmp_path / "model.gguf", "0" * 64, 5_000, "joining 3 parts")
    assert len(read) <= 6 and list(tmp_path.iterdir()) == []

    parts = []
    for n in range(3):
        parts.append(tmp_path / f"part{n}.bin")
        parts[-1].write_bytes(b"y" * 4000)
    with pytest.raises(ChecksumMismatch, match="more than the expected 10,000 bytes"):
        models.join_verified(parts, tmp_path / "out" / "model.gguf", "0" * 64, 10_000)
    assert list((tmp_path / "out").iterdir()) == []


# -- catalogue zips --------------------------------------------------------------------------------


def zip_of(path: Path, members: dict[str, int]) -> Path:
    """A zip of members holding that many zero bytes (a few kilobytes once compressed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, size in members.items():
            z.writestr(name, bytes(size))
    return path


def test_a_zip_bomb_is_refused_before_anything_is_extracted(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_ZIP_MEMBER_BYTES", 1_000_000)
    monkeypatch.setattr(loaders, "MAX_ZIP_TOTAL_BYTES", 3_000_000)
    monkeypatch.setattr(loaders, "MAX_ZIP_MEMBERS", 10)
    cache = tmp_path / "cache"
    bomb = zip_of(tmp_path / "bomb.zip", {"ml/ratings.csv": 50_000_000})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(CatalogError, match=r"ml/ratings\.csv.*50,000,000 bytes.*1,000,000"):
        loaders.load_catalog(bomb, cache_dir=cache)
    wide = zip_of(tmp_path / "wide.zip", {f"ml/part{n}.csv": 900_000 for n in range(4)})
    with pytest.raises(CatalogError, match="3,600,000 bytes.*3,000,000"):
        loaders.load_catalog(wide, cache_dir=cache)
    many = zip_of(tmp_path / "many.zip", {f"ml/{n}.csv": 1 for n in range(11)})
    with pytest.raises(CatalogError, match="11 files.*10"):
        loaders.load_catalog(many, cache_dir=cache)
    assert not any(p.is_file() for p in cache.rglob("*"))  # nothing was extracted
