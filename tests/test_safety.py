"""Safety rules that hold for the whole code base: no unsafe loaders, pinned HTTPS downloads, templates that
never let text through unescaped, and web errors that never echo an exception's own words."""

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


TEMPLATES = sorted(ROOT.joinpath("mapper", "serve", "templates").glob("*.html"))


def test_templates_never_let_text_through_unescaped():
    # write-up text reaches every page: Jinja's autoescape must stay on everywhere, with nothing marked safe
    assert TEMPLATES
    unescaped = r"\|\s*safe\b|autoescape\s+false|Markup\("
    offenders = [p.name for p in TEMPLATES if re.search(unescaped, p.read_text(encoding="utf-8"))]
    offenders += [str(p.relative_to(ROOT)) for p in ROOT.joinpath("mapper", "serve").glob("*.py")
                  if re.search(r"\bMarkup\(|autoescape\s*=\s*False", p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_web_errors_never_show_an_exception_class_name():
    # what a client is told is a sentence written for it; the exception itself goes to the server's log
    app = ROOT.joinpath("mapper", "serve", "app.py").read_text(encoding="utf-8")
    assert not re.search(r"type\(exc\)\.__name__|__class__\.__name__", app)
