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

    from conftest import FIXTURE_ATLAS, TinyEncoder
    from mapper.encode.encoders import CachedEncoder
    from mapper.encode.index import TechniqueIndex
    from mapper.kb import load_kb
    from mapper.pipeline import Mapper
    from mapper.serve.app import create_app
    from mapper.serve.workbench import Workbench

    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    kb = load_kb(FIXTURE_ATLAS)
    encoder = CachedEncoder(TinyEncoder())
    root = args.db.parent / "models"
    from mapper.model.writeups import benchmark_writeups
    mapper = Mapper.from_parts(kb, encoder, TechniqueIndex.build(kb, encoder), root, {"C_grid": (1.0,)},
                               writeups=benchmark_writeups())
    bench = Workbench(args.db, mapper, root)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(bench, token=args.token), log_level="warning"))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/", file=sys.stderr, flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
