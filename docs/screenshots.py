"""Regenerate docs/queue.png and docs/report.png: the workbench with the real model, in Debian's chromium.

    .venv/bin/python docs/screenshots.py [--atlas PATH]

Starts `atlas-mapper serve` on a free loopback port with a fresh database, adds the bundled example
write-up and two of our first write-ups, reviews the example (accept, reject, add) and takes the shots.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--atlas", default=str(ROOT.parent / "shared/atlas/releases/v2026.05/ATLAS-2026.05.yaml"))
    args = parser.parse_args()
    others = yaml.safe_load((ROOT / "data/eval/ai_incidents.yaml").read_text(encoding="utf-8"))
    others = others["incidents"] if isinstance(others, dict) else others
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([str(BIN / "atlas-mapper"), "serve", "--port", "0", "--db", f"{tmp}/w.sqlite3",
                                   "--atlas", args.atlas], stderr=subprocess.PIPE, text=True)
        try:
            url = None
            while url is None:
                line = server.stderr.readline()
                if not line and server.poll() is not None:
                    raise SystemExit("the server did not start")
                found = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
                url = found.group(1) if found else None
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                for rec in others[:2]:
                    page.goto(url + "/")
                    page.fill("#title", rec["id"].replace("-", " "))
                    page.fill("#paste", rec["text"])
                    page.click("#add-button")
                    page.wait_for_url("**/reports/*")
                page.goto(url + "/")
                page.fill("#title", "Tay: a chatbot taught to offend")
                page.fill("#paste", (ROOT / "data/examples/tay-chatbot.md").read_text(encoding="utf-8"))
                page.click("#add-button")
                page.wait_for_url("**/reports/*")
                page.fill("#reviewer", "analyst")
                page.dispatch_event("#reviewer", "change")
                page.evaluate("document.activeElement.blur()")  # the shortcuts ignore keys typed into a field
                page.keyboard.press("j")
                page.keyboard.press("a")
                page.wait_for_selector(".card.d-accept")
                page.locator(".card").nth(2).locator("button.reject").click()
                page.wait_for_selector(".card.d-reject")
                page.locator(".card").nth(0).hover()
                page.locator(".card").nth(0).locator("details").evaluate("d => d.open = true")
                page.screenshot(path=str(ROOT / "docs/report.png"))
                page.goto(url + "/")
                page.screenshot(path=str(ROOT / "docs/queue.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)
    print("wrote docs/queue.png and docs/report.png")


if __name__ == "__main__":
    main()
