"""The triage workbench (``atlas-mapper serve``), in the order a request meets it:

``security`` (host, size and header middleware; token and CSRF dependencies) -> ``app`` (FastAPI routes:
parse, call, render) -> ``workbench`` (the library the routes call) -> ``db`` (SQLite) and ``training``
(reviews teach the model); ``pages`` shapes a report for its template, ``explain`` finds the nearest
case-study steps of a suggestion, ``extract`` reads uploaded documents in a separate process. Needs the ``[serve]`` extra; the rest of the package never
imports this one.
"""
