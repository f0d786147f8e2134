"""Finding and downloading ATLAS data, tested against a local HTTP server on 127.0.0.1."""

import http.server
import json
import threading
from pathlib import Path

import pytest

from mapper import data
from mapper.errors import AtlasDataError, DownloadError, UsageError

from conftest import LATEST, needs_shared


def test_release_table_is_complete():
    tags = [r.tag for r in data.known_releases()]
    assert tags[0] == "v3.0.0" and tags[-1] == "v5.6.1" and "4.3.0" in tags
    assert data.default_tag() == "v5.6.1"
    lagging = {r.tag: r.version for r in data.known_releases() if r.tag.lstrip("v") != r.version}
    assert lagging == {"v4.0.1": "4.0.0", "v4.5.2": "4.5.1", "v5.6.1": "5.6.0"}
    for rel in data.known_releases():
        assert rel.url == f"https://raw.githubusercontent.com/mitre-atlas/atlas-data/{rel.tag}/dist/ATLAS.yaml"


def test_release_lookup_accepts_with_or_without_v():
    assert data.release_for_tag("5.6.1").tag == "v5.6.1"
    assert data.release_for_tag("4.3.0").tag == "4.3.0"
    with pytest.raises(UsageError):
        data.release_for_tag("v9.9.9")


def test_explicit_path_wins(fixture_atlas, monkeypatch, tmp_path):
    monkeypatch.setenv("ATLAS_MAPPER_DATA", str(tmp_path / "nowhere.yaml"))
    src = data.locate(fixture_atlas)
    assert src.origin == "argument" and src.release is None


def test_environment_variable(fixture_atlas, monkeypatch):
    monkeypatch.setenv("ATLAS_MAPPER_DATA", str(fixture_atlas))
    assert data.locate().origin == "environment"


def test_environment_variable_pointing_nowhere(monkeypatch, tmp_path):
    monkeypatch.setenv("ATLAS_MAPPER_DATA", str(tmp_path / "missing.yaml"))
    with pytest.raises(AtlasDataError, match="ATLAS_MAPPER_DATA"):
        data.locate()


def test_offline_with_nothing_names_every_option():
    with pytest.raises(AtlasDataError) as err:
        data.locate(download=False)
    message = str(err.value)
    assert "--atlas" in message and "ATLAS_MAPPER_DATA" in message and "data fetch" in message


class _Server:
    """Serves one payload at any path; can lie about its length or cut the body."""

    def __init__(self, payload: bytes, claimed_length: int | None = None):
        self.payload, self.claimed = payload, claimed_length
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(outer.claimed or len(outer.payload)))
                self.end_headers()
                self.wfile.write(outer.payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(monkeypatch):
    servers = []

    def start(payload, claimed=None):
        server = _Server(payload, claimed)
        servers.append(server)
        monkeypatch.setenv(data.MIRROR_ENV, server.url)
        return server

    yield start
    for server in servers:
        server.close()


@needs_shared()
def test_download_verifies_and_caches(serve):
    server = serve(LATEST.read_bytes())
    path = data.fetch("v5.6.1")
    assert server.requests == ["/v5.6.1/dist/ATLAS.yaml"]
    assert path.read_bytes() == LATEST.read_bytes()
    src = data.locate()  # now found in the cache, no second request
    assert src.origin == "cache" and src.release.tag == "v5.6.1" and len(server.requests) == 1


def _cache_files():
    root = data.cache_dir()
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_wrong_checksum_leaves_nothing(serve):
    serve(b"id: ATLAS\nversion: 0\n")
    with pytest.raises(DownloadError, match="sha256"):
        data.fetch("v5.6.1")
    assert _cache_files() == []


@needs_shared()
def test_cut_off_transfer_leaves_nothing(serve):
    body = LATEST.read_bytes()
    serve(body[: len(body) // 2], claimed=len(body))
    with pytest.raises(DownloadError):
        data.fetch("v5.6.1")
    assert _cache_files() == []


def test_unreachable_server_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV, "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(DownloadError, match="could not download"):
        data.fetch("v5.6.1", timeout=5)


@needs_shared()
def test_tampered_cache_file_is_not_trusted(serve):
    serve(LATEST.read_bytes())
    path = data.fetch("v5.6.1")
    path.write_bytes(path.read_bytes() + b"\n# tampered\n")
    src = data.locate()  # detected, removed, downloaded again
    assert src.origin == "download" and src.sha256 == data.release_for_tag("v5.6.1").sha256


@needs_shared()
def test_download_killed_midway_leaves_nothing_and_the_next_one_works(serve, monkeypatch):
    """Real processes: `data fetch` is killed while the server is half-way through the file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    body = LATEST.read_bytes()
    half_sent = threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            half_sent.set()
            time.sleep(20)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    httpd.daemon_threads = True  # do not wait for the stalled handler on close
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cli = [sys.executable, "-c", "from mapper.cli import entry; entry()", "data", "fetch", "--release", "v5.6.1"]
    env = dict(os.environ, **{data.MIRROR_ENV: f"http://127.0.0.1:{httpd.server_address[1]}"})
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert half_sent.wait(60)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    httpd.shutdown()
    httpd.server_close()
    assert not [p for p in _cache_files() if p.name == "ATLAS.yaml"]
    server = serve(body)  # a good mirror: the next run downloads, verifies and keeps it
    done = subprocess.run(cli, env=dict(os.environ, **{data.MIRROR_ENV: server.url}), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert data.locate().origin == "cache"
