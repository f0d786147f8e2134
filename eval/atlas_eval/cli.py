"""`atlas-mapper eval`: registered into the mapper CLI through an entry point."""

from __future__ import annotations


def register(app) -> None:
    @app.command("eval")
    def eval_command():
        """Benchmark mapping methods on ATLAS case studies (see README)."""
        raise NotImplementedError
