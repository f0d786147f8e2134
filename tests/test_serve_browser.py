"""The whole review loop in a real browser: Debian's chromium driven by Playwright (no downloaded
browser build), against a real server process on the fixture ATLAS."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

pytest.importorskip("fastapi")
playwright = pytest.importorskip("playwright.sync_api")

from serving import running  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")]

TEXT = ("The attackers crafted adversarial examples to evade the malware classifier model.\n\n"
        "They queried the public model API thousands of times to build a copy of it.\n\n"
        "Finally they poisoned the training data of the next release.")
HOSTILE = ('Phishing page <script>window.__xss = 1; alert(1)</script> with <img src=x onerror="window.__xss = 2"> '
           'and a <a href="javascript:window.__xss = 3">link</a>. The attackers evaded the malware classifier model.')


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def server(tmp_path):
    with running(tmp_path / "workbench.sqlite3") as (_, url):
        yield url


@contextmanager
def real_server(db: Path, atlas: Path, env: dict):
    """``atlas-mapper serve`` with the real model on a free loopback port; stopped on the way out."""
    proc = subprocess.Popen([str(Path(sys.executable).parent / "atlas-mapper"), "serve", "--port", "0", "--db", str(db),
                             "--atlas", str(atlas)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            found = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
            url = found.group(1) if found else None
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its log flowing: a full pipe stalls it
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        proc.stderr.close()


def paste(page, url: str, text: str, title: str) -> None:
    page.goto(url + "/")
    page.fill("#title", title)
    page.fill("#paste", text)
    page.click("#add-button")
    page.wait_for_url("**/reports/*")


def test_review_loop_end_to_end(browser, server, tmp_path):
    from stix2validator import ValidationOptions, validate_string

    page = browser.new_page(accept_downloads=True)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # 1-2. paste a write-up; suggestions and highlighted evidence appear
    paste(page, server, TEXT, "Model theft and evasion")
    cards = page.locator(".card")
    assert cards.count() >= 3
    assert page.locator(".sent.cited").count() >= 1
    first, second = cards.nth(0), cards.nth(1)
    first_id, second_id = first.get_attribute("data-technique"), second.get_attribute("data-technique")
    first.hover()
    assert page.locator(".sent.lit").count() >= 1  # hovering a technique lights its sentences
    page.locator(".sent.cited").first.hover()
    assert page.locator(".card.lit").count() >= 1  # and the reverse
    # 3. accept one (keyboard), reject one (button), add one (search box), with a sentence as evidence
    page.locator("body").press("j")
    page.locator("body").press("a")
    page.wait_for_selector(f'.card.d-accept[data-technique="{first_id}"]')
    second.locator("button.reject").click()
    page.wait_for_selector(f'.card.d-reject[data-technique="{second_id}"]')
    listed = set(page.eval_on_selector_all(".card", "cs => cs.map(c => c.dataset.technique)"))
    page.locator(".sent").last.click()
    page.fill("#technique-search", "poison")
    pick = page.locator("#technique-results button.pick").first
    pick.wait_for()
    candidates = page.eval_on_selector_all("#technique-results button.pick", "bs => bs.map(b => b.dataset.technique)")
    added = next((t for t in candidates if t not in listed), None)
    if added is None:  # every match is listed already: add by ID instead
        page.fill("#technique-search", "AML.T0000")
        page.locator('#technique-results button.pick[data-technique="AML.T0000"]').wait_for()
        added = "AML.T0000"
    with page.expect_navigation():
        page.locator(f'#technique-results button.pick[data-technique="{added}"]').click()
    # 4. reload: every decision is still there
    page.reload()
    assert page.locator(f'.card.d-accept[data-technique="{first_id}"]').count() == 1
    assert page.locator(f'.card.d-reject[data-technique="{second_id}"]').count() == 1
    assert page.locator(f'.card.d-add[data-technique="{added}"]').count() == 1
    assert page.locator("#status").inner_text() == "in review"
    # 5-6. export the Navigator layer and the STIX bundle from the page, and validate both
    exported = {}
    for fmt in ("navigator", "stix"):
        with page.expect_download() as info:
            page.click(f"#export-{fmt}")
        path = tmp_path / f"export-{fmt}.json"
        info.value.save_as(path)
        exported[fmt] = path.read_text(encoding="utf-8")
    layer = json.loads(exported["navigator"])
    assert layer["domain"] == "atlas-atlas" and layer["versions"]["layer"] == "4.3"
    assert {t["techniqueID"] for t in layer["techniques"]} == {first_id, added}
    result = validate_string(exported["stix"], ValidationOptions(version="2.1"))
    assert result.is_valid, result.errors
    patterns = [o for o in json.loads(exported["stix"])["objects"] if o["type"] == "attack-pattern"]
    assert {o["external_references"][0]["external_id"] for o in patterns} == {first_id, added}
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert not dialogs


def test_hostile_markup_is_shown_not_run(browser, server):
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    paste(page, server, HOSTILE, '<img src=x onerror="window.__xss = 4">')
    text = page.locator("#text").inner_text()
    assert "<script>window.__xss = 1; alert(1)</script>" in text
    assert 'onerror="window.__xss = 2"' in text
    assert page.locator("h1").inner_text().startswith("<img")
    assert page.locator("#text script, #text img, #text a, h1 img").count() == 0
    page.goto(server + "/")  # the queue shows the title too
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert not dialogs


def test_the_analysts_path_with_the_real_model(browser, real_mapper, v6_cache, tmp_path):
    """Paste, read the strongest card first, accept, reject, add, reload, export: the shipped model on v2026.05.
    ``ATLAS_MAPPER_SCREENSHOTS=docs`` keeps its screenshots as the README's (``docs/screenshots.py`` does that)."""
    from stix2validator import ValidationOptions, validate_string

    from conftest import ROOT, V6

    shots = Path(os.environ.get("ATLAS_MAPPER_SCREENSHOTS") or tmp_path)
    shots = shots if shots.is_absolute() else ROOT / shots
    env = {**os.environ, "ATLAS_MAPPER_CACHE": str(v6_cache), "ATLAS_MAPPER_CORPUS": "on"}
    with real_server(tmp_path / "workbench.sqlite3", V6, env) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url + "/")
        page.fill("#reviewer", "analyst")
        page.dispatch_event("#reviewer", "change")
        paste(page, url, (ROOT / "data/examples/tay-chatbot.md").read_text(encoding="utf-8"), "Tay: a chatbot taught to offend")
        # the strongest suggestion comes first, with its tactic on the card; only cited sentences are marked
        cards = page.locator(".card")
        scores = [float(s.split()[1]) for s in page.eval_on_selector_all(".card .score", "ss => ss.map(s => s.textContent.trim())")]
        assert len(scores) >= 3 and scores == sorted(scores, reverse=True)
        assert cards.first.locator(".card-tactics .chip").count() >= 1
        cited, sentences = page.locator(".sent.cited").count(), page.locator(".sent").count()
        assert 1 <= cited < sentences
        top, second = (cards.nth(i).get_attribute("data-technique") for i in (0, 1))
        # read the top card: its evidence lights up, and only that
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("j")
        lit = page.locator(".sent.lit").count()
        assert page.locator(".card.current").get_attribute("data-technique") == top and 1 <= lit <= 3
        page.keyboard.press("a")
        page.wait_for_selector(f'.card.d-accept[data-technique="{top}"]')
        cards.nth(1).locator("button.reject").click()
        page.wait_for_selector(f'.card.d-reject[data-technique="{second}"]')
        listed = set(page.eval_on_selector_all(".card", "cs => cs.map(c => c.dataset.technique)"))
        page.locator(".sent").nth(1).click()
        page.fill("#technique-search", "poison training data")
        page.locator("#technique-results button.pick").first.wait_for()
        candidates = page.eval_on_selector_all("#technique-results button.pick", "bs => bs.map(b => b.dataset.technique)")
        added = next(t for t in candidates if t not in listed)
        with page.expect_navigation():
            page.locator(f'#technique-results button.pick[data-technique="{added}"]').click()
        # reload: every decision is still there, and the order has not moved
        page.reload()
        assert page.locator(".card").first.get_attribute("data-technique") == top
        for tid, decision in ((top, "accept"), (second, "reject"), (added, "add")):
            assert page.locator(f'.card.d-{decision}[data-technique="{tid}"]').count() == 1
        page.locator(".card").first.hover()
        page.screenshot(path=str(shots / "report.png"))
        # export: the reviewed result only, each file valid
        exported = {}
        page.fill("#incident-date", "2016-03")  # the case study's incident date is the analyst's to give
        for fmt in ("navigator", "stix", "case-study", "csv", "json"):
            with page.expect_download() as info:
                page.click(f"#export-{fmt}")
            path = tmp_path / f"export-{fmt}"
            info.value.save_as(path)
            exported[fmt] = path.read_text(encoding="utf-8")
        assert {t["techniqueID"] for t in json.loads(exported["navigator"])["techniques"]} == {top, added}
        assert validate_string(exported["stix"], ValidationOptions(version="2.1")).is_valid
        names = {o["name"] for o in json.loads(exported["stix"])["objects"] if o["type"] == "attack-pattern"}
        assert names == {real_mapper.kb.full_name(top), real_mapper.kb.full_name(added)}
        assert second not in exported["csv"] and second not in exported["case-study"]
        study = yaml.safe_load(exported["case-study"])["study"]
        assert (str(study["incident-date"]), study["incident-date-granularity"]) == ("2016-03-01", "MONTH")
        page.click("#mark-done")
        page.wait_for_url("**/reports/*")
        page.goto(url + "/")
        page.screenshot(path=str(shots / "queue.png"))
        assert not dialogs
