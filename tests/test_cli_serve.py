"""`atlas-mapper serve` and `train --reviews`: the refusals that happen before any model loads."""

from __future__ import annotations

import socket

import pytest

from mapper.cli import main

pytest.importorskip("fastapi")


def test_serve_off_loopback_needs_a_token(capsys):
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--token" in err and len(err.strip().splitlines()) == 1


def test_serve_refuses_a_short_token(capsys, monkeypatch):
    monkeypatch.setenv("ATLAS_MAPPER_TOKEN", "short")
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err


def test_serve_names_a_taken_port(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err


def test_train_from_a_missing_review_database(capsys, tmp_path):
    assert main(["train", "--reviews", str(tmp_path / "nope.sqlite3")]) == 3
    assert "atlas-mapper serve" in capsys.readouterr().err

