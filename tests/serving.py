"""Starting and stopping real workbench server processes in tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start(db: Path, timeout: float = 120.0, token: str | None = None) -> tuple[subprocess.Popen, str]:
    """A fixture server on a free loopback port: (process, base URL). Stops itself if the test dies:
    the server's stdin is our pipe, and it is killed in ``running``'s cleanup."""
    cmd = [sys.executable, str(HERE / "fixture_server.py"), str(db)] + (["--token", token] if token else [])
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", line or "")
        if found:
            url = found.group(1)
            _wait_healthy(url, deadline)
            return proc, url
        if proc.poll() is not None:
            raise RuntimeError(f"fixture server exited with {proc.returncode}: {proc.stderr.read()}")
    proc.kill()
    raise RuntimeError("fixture server did not start")


def _wait_healthy(url: str, deadline: float) -> None:
    import httpx

    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never became healthy")


@contextmanager
def running(db: Path, token: str | None = None):
    proc, url = start(db, token=token)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
