"""The whole review loop in a real browser: Debian's chromium driven by Playwright (no downloaded
browser build), against a real server process on the fixture ATLAS."""

from __future__ import annotations

import json
import shutil

import pytest

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
