"""Regenerate docs/report.png and docs/queue.png from the analyst's-path browser test.

    .venv/bin/python docs/screenshots.py

Runs ``tests/test_serve_browser.py::test_the_analysts_path_with_the_real_model`` (the shipped model on ATLAS
v2026.05 from ../shared, in Debian's chromium) with ``ATLAS_MAPPER_SCREENSHOTS=docs``, so the pictures are the
ones that test's run took: paste the bundled Tay example, accept the strongest card, reject the next, add one,
reload, export.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_serve_browser.py::test_the_analysts_path_with_the_real_model"

if __name__ == "__main__":
    env = {**os.environ, "ATLAS_MAPPER_SCREENSHOTS": str(ROOT / "docs")}
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", TEST], cwd=ROOT, env=env))
