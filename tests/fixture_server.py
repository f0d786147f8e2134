"""A real workbench server process on the tiny fixture ATLAS and encoder, for the tests that need a
process to kill or a browser to drive: ``python tests/fixture_server.py DB [--token T]``.

Prints ``listening on http://127.0.0.1:PORT/`` on stderr once it accepts connections.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    import uvicorn

    from fixture_parts import RECIPE, mini_mapper
    from mapper.serve.app import create_app
    from mapper.serve.workbench import Workbench

    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    root = args.db.parent / "models"
    bench = Workbench(args.db, mini_mapper(root), root, recipe=RECIPE)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(bench, token=args.token), log_level="warning"))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/", file=sys.stderr, flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
