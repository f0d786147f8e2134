"""Safety rules that hold for the whole code base: no unsafe loaders, pinned HTTPS downloads."""

import re
from pathlib import Path

import pytest

from mapper.kb import releases as data

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.joinpath("mapper").rglob("*.py"), *ROOT.joinpath("eval").rglob("*.py")])

FORBIDDEN = {
    r"\bimport pickle\b|\bpickle\.load": "pickle",
    r"\bjoblib\b": "joblib",
    r"\byaml\.(load|unsafe_load|full_load)\s*\(": "a YAML loader other than safe_load",
    r"allow_pickle\s*=\s*True": "npz with pickles",
    r"trust_remote_code\s*=\s*True": "remote code",
    r"\btorch\.load\s*\(": "torch.load (pickle)",
}


@pytest.mark.parametrize("pattern,what", FORBIDDEN.items(), ids=list(FORBIDDEN.values()))
def test_no_unsafe_loading_anywhere(pattern, what):
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES if re.search(pattern, p.read_text(encoding="utf-8"))]
    assert not offenders, f"{what} in {offenders}"


def test_every_pinned_release_downloads_over_https_from_the_official_repository():
    for release in data.known_releases():
        assert release.url.startswith("https://") and "mitre-atlas/atlas-data" in release.url, release.url
        assert re.fullmatch(r"[0-9a-f]{64}", release.sha256)


def test_a_plain_http_url_is_refused(monkeypatch):
    import dataclasses

    release = dataclasses.replace(data.known_releases()[-1], url="http://example.org/ATLAS.yaml")
    monkeypatch.setattr(data, "release_for_tag", lambda tag: release)
    with pytest.raises(data.DownloadError, match="non-HTTPS"):
        data.fetch(release.tag)
