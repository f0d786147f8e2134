"""The workbench as a real server process: reviews survive ``kill -9``, and 20 concurrent clients
lose nothing. Timings are the load benchmark's business (eval/bench/serve_load.py), not asserted here."""

from __future__ import annotations

import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from serving import running  # noqa: E402

TEXT = ("The attackers crafted adversarial examples to evade the malware classifier model. "
        "They queried the public model API thousands of times to build a copy of it.")


def _new_report(url: str) -> dict:
    response = httpx.post(f"{url}/api/reports", json={"text": TEXT, "title": "t"}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def test_acknowledged_reviews_survive_kill_9(tmp_path):
    db = tmp_path / "data" / "workbench.sqlite3"
    acknowledged: list[str] = []
    with running(db) as (proc, url):
        report = _new_report(url)
        techs = [h["id"] for h in report["result"]["techniques"]] or ["AML.T0000"]
        stop = threading.Event()

        def keep_reviewing():
            n = 0
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    note = f"review {n}"
                    try:
                        r = client.post(f"{url}/api/reports/{report['id']}/reviews",
                                        json={"technique": techs[n % len(techs)], "decision": "accept", "note": note})
                    except httpx.HTTPError:
                        return  # the server died mid-request: that review was never acknowledged
                    if r.status_code == 201:
                        acknowledged.append(note)
                    n += 1

        worker = threading.Thread(target=keep_reviewing)
        worker.start()
        while len(acknowledged) < 40:
            assert worker.is_alive()
            threading.Event().wait(0.01)
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: whatever SQLite has on disk is all there is
        proc.wait(timeout=30)
        stop.set()
        worker.join(timeout=60)
    with running(db) as (_, url):
        stored = [r["note"] for r in httpx.get(f"{url}/api/reports/{report['id']}", timeout=30).json()["reviews"]]
    assert acknowledged and set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))  # nothing stored twice
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_twenty_concurrent_clients_lose_nothing(tmp_path):
    with running(tmp_path / "workbench.sqlite3") as (_, url):
        report = _new_report(url)
        tech = (report["result"]["techniques"] or [{"id": "AML.T0000"}])[0]["id"]
        barrier = threading.Barrier(20)

        def client_session(i: int) -> list[int]:
            codes = []
            with httpx.Client(timeout=120) as client:
                barrier.wait()
                for j in range(5):
                    codes.append(client.post(f"{url}/api/map", json={"text": f"{TEXT} Case {i}-{j}."}).status_code)
                    codes.append(client.post(f"{url}/api/reports/{report['id']}/reviews",
                                             json={"technique": tech, "decision": "accept",
                                                   "note": f"client {i} review {j}"}).status_code)
            return codes

        with ThreadPoolExecutor(max_workers=20) as pool:
            codes = [c for result in pool.map(client_session, range(20)) for c in result]
        stored = httpx.get(f"{url}/api/reports/{report['id']}", timeout=30).json()["reviews"]
    assert set(codes) == {200, 201}
    assert sorted(r["note"] for r in stored) == sorted(f"client {i} review {j}" for i in range(20) for j in range(5))
