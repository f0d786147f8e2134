"""The triage workbench (``atlas-mapper serve``), in the order a request meets it:

``security`` (host, token, CSRF and size checks) -> ``app`` (FastAPI routes: parse, call, render) ->
``workbench`` (the library the routes call) -> ``db`` (SQLite) and ``training`` (reviews teach the model);
``pages`` shapes a report for its template. Needs the ``[serve]`` extra; the rest of the package never
imports this one.
"""
