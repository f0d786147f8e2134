"""Progress lines: on standard error whether or not it is a terminal, plain text, and silenced on request."""

from __future__ import annotations

import io

from mapper.progress import announce, silence


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_pipe_hears_the_same_plain_line_as_a_terminal():
    pipe, terminal = io.StringIO(), _Terminal()
    announce("building the technique index (first run only)", pipe)
    announce("building the technique index (first run only)", terminal)
    assert pipe.getvalue() == terminal.getvalue() == "atlas-mapper: building the technique index (first run only)\n"
    assert "\r" not in pipe.getvalue() and "\x1b" not in pipe.getvalue()  # no terminal control codes in a log


def test_the_default_stream_is_stderr_never_stdout(capsys):
    announce("training the ranker")
    out, err = capsys.readouterr()
    assert out == "" and err == "atlas-mapper: training the ranker\n"


def test_quiet_by_flag_or_environment(monkeypatch):
    stream = io.StringIO()
    silence(True)
    try:
        announce("hidden", stream)
    finally:
        silence(False)
    for value in ("1", "yes", "true"):
        monkeypatch.setenv("ATLAS_MAPPER_QUIET", value)
        announce("hidden", stream)
    assert stream.getvalue() == ""
    monkeypatch.setenv("ATLAS_MAPPER_QUIET", "0")
    announce("shown", stream)
    assert stream.getvalue() == "atlas-mapper: shown\n"
