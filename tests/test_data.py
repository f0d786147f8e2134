"""Finding and downloading ATLAS data, tested against a local HTTP server on 127.0.0.1."""

import http.server
import json
import threading
from pathlib import Path

import pytest

from mapper.kb import releases as data
from mapper.errors import AtlasDataError, DownloadError, UsageError
from mapper.files import sha256_bytes, sha256_file

from conftest import LATEST, RELEASES, needs_shared


V6_TAGS = ["v2026.05", "v2026.06", "v2026.08", "v2026.09"]
V6_0505 = RELEASES / "v2026.05" / "ATLAS-2026.05.yaml"
# A stand-in for a release newer than the table: the download layer never parses it.
NEWER = b"format-version: 6.0.0\ncollection:\n  version: '2026.10'\ntechniques: {}\n"
NEWER_PATH = "/v2026.10/dist/v6/ATLAS-2026.10.yaml"


def test_release_table_is_complete():
    releases = data.known_releases()
    tags = [r.tag for r in releases]
    assert tags[0] == "v3.0.0" and "v5.6.1" in tags and "4.3.0" in tags and tags[-4:] == V6_TAGS
    # a fresh install uses the newest release whose bytes our tests have checked
    assert data.default_tag() == data.newest_checked().tag == "v2026.05"
    legacy = [r for r in releases if r.format == "legacy"]
    lagging = {r.tag: r.version for r in legacy if r.tag.lstrip("v") != r.version}
    assert lagging == {"v4.0.1": "4.0.0", "v4.5.2": "4.5.1", "v5.6.1": "5.6.0"}
    for rel in legacy:
        assert rel.path == "dist/ATLAS.yaml" and rel.checked and rel.pinned
        assert rel.url == f"https://raw.githubusercontent.com/mitre-atlas/atlas-data/{rel.tag}/dist/ATLAS.yaml"
    for rel in releases[len(legacy):]:
        assert rel.tag == f"v{rel.version}" and rel.format == "6.0.0" and rel.pinned
        assert rel.url == (f"https://raw.githubusercontent.com/mitre-atlas/atlas-data/{rel.tag}"
                           f"/dist/v6/ATLAS-{rel.version}.yaml")
        # only 2026.05 has been seen by our tests; the later hashes come from third-party records
        assert rel.checked == (rel.tag == "v2026.05") and bool(rel.source) == (not rel.checked)
    assert data.newest_checked().tag == "v2026.05"


@needs_shared()
def test_checked_releases_are_the_real_files():
    """What `checked` promises: these exact bytes are in ../shared/atlas."""
    for rel in data.known_releases():
        if rel.checked:
            real = RELEASES / rel.tag / Path(rel.path).name
            assert sha256_file(real) == rel.sha256, rel.tag


def test_release_lookup_accepts_with_or_without_v():
    assert data.release_for_tag("5.6.1").tag == "v5.6.1"
    assert data.release_for_tag("4.3.0").tag == "4.3.0"
    assert data.release_for_tag("v2026.09").tag == data.release_for_tag("2026.09").tag == "v2026.09"
    with pytest.raises(UsageError):
        data.release_for_tag("v9.9.9")


def test_cache_path_keeps_the_upstream_file_name():
    root = data.cache_dir() / "atlas"
    assert data.cached_path(data.release_for_tag("v5.6.1")) == root / "v5.6.1" / "ATLAS.yaml"
    assert data.cached_path(data.release_for_tag("v2026.05")) == root / "v2026.05" / "ATLAS-2026.05.yaml"


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


def test_a_folder_means_its_legacy_or_newest_monthly_file(tmp_path):
    for name in ("ATLAS-2026.05.yaml", "ATLAS-2026.06.yaml", "ATLAS-latest.yaml"):
        (tmp_path / name).write_text("format-version: 6.0.0\n")
    assert data.locate(tmp_path).path.name == "ATLAS-2026.06.yaml"  # a dated file wins over the pointer
    (tmp_path / "ATLAS.yaml").write_text("id: ATLAS\n")
    assert data.locate(tmp_path).path.name == "ATLAS.yaml"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AtlasDataError, match=r"no ATLAS.yaml or ATLAS-<YYYY.MM>.yaml.*--atlas"):
        data.locate(empty)


def test_offline_with_nothing_names_every_option():
    with pytest.raises(AtlasDataError) as err:
        data.locate(download=False)
    message = str(err.value)
    assert "--atlas" in message and "ATLAS_MAPPER_DATA" in message and "data fetch" in message


class _Server:
    """Serves one payload at any path, or a dict of upstream paths -> payloads (404 elsewhere).

    It can lie about the length; ``routes`` may be changed while it runs (upstream changing a file).
    """

    def __init__(self, routes: bytes | dict, claimed_length: int | None = None):
        self.routes, self.claimed = routes, claimed_length
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.routes if isinstance(outer.routes, bytes) else outer.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(outer.claimed or len(body)))
                self.end_headers()
                self.wfile.write(body)

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

    def start(routes, claimed=None):
        server = _Server(routes, claimed)
        servers.append(server)
        monkeypatch.setenv(data.MIRROR_ENV, server.url)
        return server

    yield start
    for server in servers:
        server.close()


@needs_shared()
def test_download_verifies_and_caches(serve):
    server = serve(LATEST.read_bytes())
    path = data.fetch("v5.6.1").path
    assert server.requests == ["/v5.6.1/dist/ATLAS.yaml"]
    assert path.read_bytes() == LATEST.read_bytes()
    src = data.locate(release="v5.6.1")  # now found in the cache, no second request
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
    path = data.fetch("v5.6.1").path
    path.write_bytes(path.read_bytes() + b"\n# tampered\n")
    src = data.locate(release="v5.6.1")  # detected, removed, downloaded again
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
    assert data.locate(release="v5.6.1").origin == "cache"


# --- explicit choices win over ATLAS_MAPPER_DATA ------------------------------------------------


@needs_shared()
def test_explicit_release_wins_over_the_environment(serve, monkeypatch, fixture_atlas):
    serve({"/v4.4.0/dist/ATLAS.yaml": (RELEASES / "v4.4.0" / "ATLAS.yaml").read_bytes()})
    monkeypatch.setenv(data.DATA_ENV, str(fixture_atlas))
    src = data.locate(release="v4.4.0")
    assert src.origin == "download" and src.release.tag == "v4.4.0"
    assert data.locate().origin == "environment"  # with nothing named, the environment still applies


@needs_shared()
def test_data_diff_of_two_tags_ignores_the_environment(capsys, monkeypatch, fixture_atlas):
    """The bug: with ATLAS_MAPPER_DATA set, `data diff v4.4.0 v4.5.0` compared that file with itself."""
    import shutil

    from mapper.cli import main

    for tag in ("v4.4.0", "v4.5.0"):
        target = data.cached_path(data.release_for_tag(tag))
        target.parent.mkdir(parents=True)
        shutil.copyfile(RELEASES / tag / "ATLAS.yaml", target)
    monkeypatch.setenv(data.DATA_ENV, str(fixture_atlas))
    monkeypatch.setenv(data.MIRROR_ENV, "http://127.0.0.1:9")  # a download attempt fails here, never goes out
    code = main(["data", "diff", "v4.4.0", "v4.5.0", "--format", "json"])
    diff = json.loads(capsys.readouterr().out)
    assert code == 0 and (diff["old"]["release"], diff["new"]["release"]) == ("v4.4.0", "v4.5.0")
    assert "AML.T0045" in [row["id"] for row in diff["removed"]]


# --- v6 monthly releases ---------------------------------------------------------------------------


def _v6_route(version: str) -> str:
    return f"/v{version}/dist/v6/ATLAS-{version}.yaml"


@needs_shared()
def test_v6_release_downloads_verifies_and_is_found_in_the_cache(serve):
    server = serve({_v6_route("2026.05"): V6_0505.read_bytes()})
    src = data.fetch("2026.05")
    assert server.requests == [_v6_route("2026.05")]
    assert src.path == data.cache_dir() / "atlas" / "v2026.05" / "ATLAS-2026.05.yaml"
    assert src.path.read_bytes() == V6_0505.read_bytes()
    info = src.describe()
    assert (info["release"], info["version"], info["pinned"], info["checked"]) == ("v2026.05", "2026.05", True, True)
    assert data.locate(release="v2026.05").origin == "cache" and len(server.requests) == 1


MANIFEST = b"""\
'5.6':
  legacy: ATLAS.yaml
'2026.05':
  6.0.0: v6/ATLAS-2026.05.yaml
"""


@needs_shared()
def test_latest_from_the_manifest(serve):
    server = serve({"/main/dist/manifest.yaml": MANIFEST, _v6_route("2026.05"): V6_0505.read_bytes()})
    src = data.fetch_latest()
    assert server.requests == ["/main/dist/manifest.yaml", _v6_route("2026.05")]
    assert src.release.tag == "v2026.05" and src.describe()["checked"]


@needs_shared()
def test_latest_through_the_pointer_files_when_the_manifest_is_missing(serve):
    server = serve({
        "/main/dist/ATLAS-latest.yaml": b"v6/ATLAS-latest.yaml",  # raw GitHub serves a symlink as its target
        "/main/dist/v6/ATLAS-latest.yaml": b"ATLAS-2026.05.yaml\n",
        _v6_route("2026.05"): V6_0505.read_bytes(),
    })
    assert data.fetch_latest().release.tag == "v2026.05"
    assert server.requests == ["/main/dist/manifest.yaml", "/main/dist/ATLAS-latest.yaml",
                               "/main/dist/v6/ATLAS-latest.yaml", _v6_route("2026.05")]


@needs_shared()
def test_latest_when_the_pointer_is_served_as_the_file_itself(serve):
    """A mirror that follows symlinks serves the release file: its collection.version names the release."""
    body = V6_0505.read_bytes()
    server = serve({"/main/dist/manifest.yaml": b"[not: a, mapping", "/main/dist/ATLAS-latest.yaml": body,
                    _v6_route("2026.05"): body})
    assert data.fetch_latest().release.tag == "v2026.05" and server.requests[-1] == _v6_route("2026.05")


def test_latest_with_neither_manifest_nor_pointers_is_a_clear_error(serve):
    serve({})
    with pytest.raises(DownloadError, match="ATLAS-latest pointer"):
        data.fetch_latest()
    assert _cache_files() == []


@pytest.mark.parametrize("manifest, newest", [
    ({"2026.05": {"6.0.0": "v6/ATLAS-2026.05.yaml"}, "5.6": {"legacy": "ATLAS.yaml"}},
     ("2026.05", "dist/v6/ATLAS-2026.05.yaml")),
    ({"releases": {"2026.09": {"6.0.0": "dist/v6/ATLAS-2026.09.yaml"}, "2026.08": {"6.0.0": "v6/ATLAS-2026.08.yaml"}}},
     ("2026.09", "dist/v6/ATLAS-2026.09.yaml")),
    ({2026.1: {"6.1.0": "v6/ATLAS-2026.10.yaml"}, 2026.09: {"6.0.0": "v6/ATLAS-2026.09.yaml"}},  # unquoted keys
     ("2026.10", "dist/v6/ATLAS-2026.10.yaml")),
    ({"2026.11": {"7.0.0": "v7/ATLAS-2026.11.yaml"}, "2026.10": {"6.0.0": "../../etc/passwd.yaml"}}, None),
    ({"5.6": {"legacy": "ATLAS.yaml"}}, None),
    (["2026.05"], None),
    ("not a manifest", None),
])
def test_manifest_shapes(manifest, newest):
    assert data.newest_in_manifest(manifest) == newest


def _newer_upstream():
    return {"/main/dist/manifest.yaml": b"'2026.09':\n  6.0.0: v6/ATLAS-2026.09.yaml\n"
                                        b"'2026.10':\n  6.0.0: v6/ATLAS-2026.10.yaml\n",
            NEWER_PATH: NEWER}


def test_unpinned_release_needs_trust_then_is_recorded_and_checked(serve):
    server = serve(_newer_upstream())
    with pytest.raises(DownloadError, match="not pinned.*--trust-unpinned"):
        data.fetch_latest()
    assert _cache_files() == [] and NEWER_PATH not in server.requests

    src = data.fetch_latest(trust_unpinned=True)
    assert src.sha256 == sha256_file(src.path) and src.path.name == "ATLAS-2026.10.yaml"
    assert src.describe()["pinned"] is False and src.describe()["checked"] is False
    record = json.loads((data.cache_dir() / "atlas" / "unpinned.json").read_text())["v2026.10"]
    assert record["sha256"] == src.sha256 and record["path"] == "dist/v6/ATLAS-2026.10.yaml"
    assert record["version"] == "2026.10" and record["format"] == "6.0.0" and record["fetched"]

    found = data.locate(release="v2026.10", download=False)  # the record now identifies the cached file
    assert found.origin == "cache" and found.release.tag == "v2026.10" and not found.release.pinned
    assert data.known_releases()[-1].tag == "v2026.10"
    assert data.fetch_latest().release.tag == "v2026.10"  # recorded: no trust needed, checked against the record

    found.path.write_bytes(NEWER + b"# changed\n")
    with pytest.raises(AtlasDataError):
        data.locate(release="v2026.10", download=False)
    server.routes[NEWER_PATH] = NEWER + b"# changed upstream\n"
    with pytest.raises(DownloadError, match="recorded at its first download"):
        data.locate(release="v2026.10")
    assert not found.path.exists()


def test_unpinned_monthly_tag_by_name(serve):
    serve(_newer_upstream())
    with pytest.raises(DownloadError, match="--trust-unpinned"):
        data.fetch("v2026.10")
    assert data.fetch("2026.10", trust_unpinned=True).release.tag == "v2026.10"


def test_pinned_v6_release_with_other_bytes_is_refused(serve):
    serve({"/main/dist/manifest.yaml": b"'2026.09':\n  6.0.0: v6/ATLAS-2026.09.yaml\n",
           _v6_route("2026.09"): NEWER})
    for attempt in (data.fetch_latest, lambda: data.fetch("v2026.09"), lambda: data.fetch_latest(trust_unpinned=True)):
        with pytest.raises(DownloadError, match="sha256.*pinned.*nothing was saved"):
            attempt()
    assert _cache_files() == []


def test_unreadable_unpinned_record_names_the_file():
    record = data.cache_dir() / "atlas" / "unpinned.json"
    record.parent.mkdir(parents=True)
    record.write_text("{not json")
    with pytest.raises(AtlasDataError, match="unpinned.json.*delete it"):
        data.known_releases()


def test_fetch_command(serve, capsys):
    from mapper.cli import main

    serve(_newer_upstream())
    assert main(["data", "fetch", "--latest"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trust-unpinned" in err
    assert main(["data", "fetch", "--latest", "--trust-unpinned"]) == 0
    out = capsys.readouterr().out
    assert "release v2026.10 (version 2026.10)" in out and f"sha256 {sha256_bytes(NEWER)}" in out
    assert "pinned: no" in out and "ATLAS-2026.10.yaml" in out
    assert main(["data", "fetch", "--latest", "--release", "v2026.05"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_a_pointer_leading_outside_dist_is_refused(serve):
    serve({"/main/dist/ATLAS-latest.yaml": b"../../elsewhere/ATLAS-2026.05.yaml"})
    with pytest.raises(DownloadError, match="outside dist/"):
        data.fetch_latest()


def test_an_unpinned_download_that_is_not_the_release_asked_for_is_refused(serve):
    """With no hash to check, an error page or another release's file must not become the trusted record."""
    for body in (b"<html>404: Not Found</html>", NEWER.replace(b"2026.10", b"2026.09")):
        serve({NEWER_PATH: body})
        with pytest.raises(DownloadError, match="not the ATLAS 2026.10 release file; nothing was saved"):
            data.fetch("v2026.10", trust_unpinned=True)
        assert _cache_files() == []


def test_fixture_releases_fetched_by_tag_then_compared_and_used_by_tag(serve, capsys):
    """Our own 2026.05 -> 2026.07 fixtures served at upstream's paths: fetched, diffed and translated to by tag."""
    from mapper.cli import main

    fixtures = Path(__file__).parent / "fixtures" / "v6"
    serve({_v6_route("2026.07"): (fixtures / "ATLAS-2026.07.yaml").read_bytes()})
    assert main(["data", "fetch", "--release", "v2026.07", "--trust-unpinned"]) == 0
    capsys.readouterr()
    assert main(["data", "diff", str(fixtures / "ATLAS-2026.05.yaml"), "v2026.07", "--format", "json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["new"]["release"] == "v2026.07"
    assert diff["merged"][0]["from"] == ["AML.T0019", "AML.T0058", "AML.T0104"]
    assert diff["crosswalk"]["AML.T0019"][0]["evidence"] == ["recorded", "case studies"]
    assert main(["techniques", "show", "AML.T0019", "--release", "v2026.07"]) == 0  # read as the newer release names it
    assert "(AML.T0019 is AML.T0115.000 in ATLAS v2026.07)" in capsys.readouterr().out
