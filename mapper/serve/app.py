"""The web edge of the workbench: FastAPI routes that parse, call :class:`Workbench`, and render.

Pages are server-rendered (Jinja2, autoescaped: write-up text is always text) with one small
script and one stylesheet served from here, so the app works offline. The REST API speaks JSON
and answers errors as ``{"error": message}``, the message one plain sentence for the person asking:
a bad request names the field and what it takes (:func:`invalid_message`), and a failure on the
server's side says so without its own words (class names, paths, SQL), which go to the server's log.
:func:`_status` is the one place that turns exceptions into HTTP statuses; a passing condition
(:class:`Busy`, a locked database) is 503 with a Retry-After header.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Security, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo
from starlette.exceptions import HTTPException

from mapper import __version__
from mapper.errors import AtlasDataError, Busy, InputError, MapperError, ModelError, NotFoundError, UsageError
from mapper.model.reviews import Review
from mapper.serve.messages import figures_text, invalid_message, is_model, shown_models
from mapper.serve.security import (
    CSRF_COOKIE,
    LOOPBACK_NAMES,
    BodyTooLarge,
    CsrfSigner,
    LoginRedirect,
    Protection,
    install,
    login_response,
    too_large_message,
)
from mapper.serve.workbench import Workbench

HERE = Path(__file__).resolve().parent
logger = logging.getLogger("atlas-mapper.serve")
MAX_UPLOAD_MB = 20
MAX_FILES = 20
# the pages' icon: inline in every page (a data link, which the content security policy allows for images) and
# at /favicon.ico for browsers that ask for that file anyway
FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
               'fill="#1f3a5f"/><path d="M4 12.5 8 3.5l4 9M5.6 9h4.8" fill="none" stroke="#fff" stroke-width="1.8" '
               'stroke-linecap="round" stroke-linejoin="round"/></svg>')


# -- the API's shapes -----------------------------------------------------------------
# A required field's description is a noun phrase: "the request needs a "text" field holding <description>".
class MapRequest(BaseModel):
    text: str = Field(description="the write-up")
    top_k: int = Field(10, ge=1, le=200, description="Report at most this many techniques.")
    threshold: Optional[float] = Field(None, ge=0.0, le=1.0, description="Minimum probability (default: the model's).")


class ReportRequest(BaseModel):
    text: str = Field(description="the write-up")
    title: Optional[str] = Field(None, max_length=1000)


class Span(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class ReviewRequest(BaseModel):
    technique: str = Field(max_length=40, examples=["AML.T0051"], description="an ATLAS technique ID such as AML.T0051")
    decision: Literal["accept", "reject", "add"]
    evidence: list[Span] = Field(default_factory=list, description="Character spans of the report's text.")
    note: str = ""
    reviewer: Optional[str] = Field(None, max_length=200)


class StatusRequest(BaseModel):
    status: Literal["new", "in review", "done"]
    reviewer: Optional[str] = Field(None, max_length=200)


# -- errors as people read them ---------------------------------------------------------
class InvalidRequest(InputError):
    """A request whose body or parameters do not have the shape asked for (422, like FastAPI's own check)."""


DB_RETRY_AFTER = 2  # seconds: SQLite already waited its busy timeout before it said "locked"


def _db_busy(exc: BaseException) -> bool:
    """SQLite gave up waiting for another writer (it says "database is locked" or "... busy")."""
    return isinstance(exc, sqlite3.OperationalError) and any(w in str(exc).lower() for w in ("locked", "busy"))


def _status(exc: BaseException) -> int:
    """The HTTP status of every exception the app answers: the one place they are mapped."""
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, (InvalidRequest, RequestValidationError)):
        return 422
    if isinstance(exc, (InputError, UsageError)):
        return 400
    if isinstance(exc, (Busy, ModelError, AtlasDataError)) or _db_busy(exc):
        return 503
    return 500


def _retry_after(exc: BaseException) -> int | None:
    """Seconds after which asking again should work (the Retry-After header), for a passing condition."""
    if isinstance(exc, Busy):
        return max(1, int(exc.retry_after))
    return DB_RETRY_AFTER if _db_busy(exc) else None


def _public_message(exc: BaseException) -> str:
    """What the client is told. The project's 4xx messages and Busy are written for the person asking; a
    server-side failure's own text (class names, paths, SQL) stays in the server's log."""
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    if isinstance(exc, BodyTooLarge):
        return too_large_message(exc.limit)
    if isinstance(exc, Busy) or (isinstance(exc, MapperError) and _status(exc) < 500):
        return str(exc)
    if _db_busy(exc):
        return "the workbench database is busy with other changes; try again in a few seconds"
    if isinstance(exc, sqlite3.Error):
        return "the workbench database could not complete this request; see the server's log"
    if isinstance(exc, ModelError):
        return "the model cannot be used right now; see the server's log"
    if isinstance(exc, AtlasDataError):
        return "the ATLAS data cannot be read right now; see the server's log"
    return "the server could not finish this request because of an internal error; see the server's log"


def _route_fields(request: Request) -> tuple[dict[str, FieldInfo], dict[str, FieldInfo]]:
    """(body fields, query and path parameters) of the route a request was sent to."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return {}, {}
    params = {p.alias: p.field_info for p in (*dependant.path_params, *dependant.query_params)}
    bodies = dependant.body_params
    if len(bodies) == 1 and is_model(bodies[0].field_info.annotation):
        return dict(bodies[0].field_info.annotation.model_fields), params
    return {p.alias: p.field_info for p in bodies}, params


def create_app(bench: Workbench, token: str | None = None, hosts: tuple[str, ...] | None = LOOPBACK_NAMES,
               max_upload_mb: float = MAX_UPLOAD_MB) -> FastAPI:
    """``hosts``: the Host names served (default: loopback names; None: any, which needs ``token``)."""
    max_bytes = int(max_upload_mb * 1024 * 1024)
    # Starlette spools an uploaded part over 1 MB to a temporary file; BodyLimit caps a body at max_bytes, so keep
    # every part in memory instead: nothing a user sends is ever written outside the data folder.
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_bytes + 1)
    app = FastAPI(title="atlas-mapper workbench", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  description="Map incident write-ups to MITRE ATLAS techniques, review the suggestions, export them, "
                              "and retrain the model from reviews. Errors are JSON: {\"error\": message}.")
    app.state.bench = bench
    signer = CsrfSigner()
    install(app, hosts, max_bytes)
    protect = Protection(token, signer, MAX_FILES, max_bytes)
    # every page and API route: the token first, then (for a state-changing method) the CSRF check
    guarded = [Security(protect.authorised), Depends(protect.csrf)]
    api = APIRouter(prefix="/api", tags=["api"], dependencies=guarded)
    pages = APIRouter(dependencies=guarded, include_in_schema=False)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    templates.env.filters["figures_text"] = figures_text
    templates.env.globals["favicon"] = "data:image/svg+xml," + quote(FAVICON_SVG)

    # -- errors: one place ----------------------------------------------------------
    def error(request: Request, message: str, status: int, headers: Mapping[str, str] | None = None):
        """JSON for the API and scripts; a page for a person whose browser followed a link or sent a form.
        ``message`` is one plain sentence (whitespace and line breaks collapse)."""
        message = " ".join(message.split())
        if not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", ""):
            response = templates.TemplateResponse(request, "error.html",
                                                  {"message": message, "status": status, "csrf": "",
                                                   "version": __version__, "model_version": bench.version},
                                                  status_code=status)
        else:
            response = JSONResponse({"error": message}, status_code=status)
        response.headers.update(headers or {})
        return response

    def answer(request: Request, exc: BaseException, message: str | None = None):
        """The error response to ``exc``: status and Retry-After from :func:`_status` and :func:`_retry_after`,
        the text from :func:`_public_message`; a server-side failure's own text goes to the log only."""
        status, wait = _status(exc), _retry_after(exc)
        if status >= 500 and wait is None:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc,
                         exc_info=(type(exc), exc, exc.__traceback__))
        elif wait is not None:
            logger.warning("%s %s: busy (%s); asked to retry in %s s", request.method, request.url.path, exc, wait)
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if wait is not None:
            headers["retry-after"] = str(wait)
        return error(request, message or _public_message(exc), status, headers)

    @app.exception_handler(MapperError)
    async def _mapper_error(request: Request, exc: MapperError):
        return answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return answer(request, exc, invalid_message(exc.errors(), *_route_fields(request)))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return answer(request, exc)

    @app.exception_handler(LoginRedirect)
    async def _login(request: Request, exc: LoginRedirect):
        return login_response(exc)

    @app.exception_handler(sqlite3.Error)
    async def _database(request: Request, exc: sqlite3.Error):
        return answer(request, exc)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge):
        return answer(request, exc)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        return answer(request, exc)

    async def run(fn, *args, **kwargs):
        """Model and database work off the event loop, so one slow mapping never stalls the others."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- API ------------------------------------------------------------------------------
    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        """The pages name their icon inline (base.html); this answers browsers that ask for the file anyway.
        Open like /healthz: it is the same few bytes for everyone."""
        return Response(FAVICON_SVG, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})

    @app.get("/healthz", tags=["api"])
    async def healthz():
        return {"status": "ok", "version": __version__, "model_version": bench.version}

    @api.post("/map", summary="Map a write-up; the same JSON as `atlas-mapper map --format json`")
    async def api_map(body: MapRequest):
        return await run(bench.map, body.text, body.top_k, body.threshold)

    @api.post("/reports", status_code=201,
              summary="Add a write-up to the queue: JSON {text, title?} or a multipart upload with a `file` field",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ReportRequest.model_json_schema()},
                  "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                      "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}}}}}})
    async def api_add_report(request: Request):
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=1)
            upload = form.get("file")
            if not hasattr(upload, "read"):
                raise InputError("a multipart upload needs a 'file' field holding the document")
            title = form.get("title")
            report = await _create(await _extract(upload, max_bytes), title if isinstance(title, str) else None)
        else:
            try:
                body = ReportRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                raise InvalidRequest(invalid_message(exc.errors(), ReportRequest.model_fields)) from None
            report = await run(bench.create_report, body.text, body.title, "api")
        return await run(bench.api_report, report["id"], False)

    async def _extract(upload: UploadFile, limit: int):
        """(extracted text, file name) of an upload."""
        from mapper.serve.extract import extract_text

        data = await upload.read(limit + 1)
        return await run(extract_text, data, upload.filename, limit), Path(upload.filename or "upload").name

    async def _create(extracted, title: str | None) -> dict:
        document, name = extracted
        return await run(bench.create_report, document.text, title or document.title or name, name)

    @api.get("/reports/{report_id}", summary="A report with its result and its reviews")
    async def api_report(report_id: str):
        return await run(bench.api_report, report_id)

    @api.post("/reports/{report_id}/reviews", status_code=201,
              summary="Accept or reject a suggestion, or add a technique, with evidence spans and a note")
    async def api_review(report_id: str, body: ReviewRequest):
        review = Review(body.technique, body.decision, tuple((s.start, s.end) for s in body.evidence), body.note,
                        body.reviewer)
        return (await run(bench.review, report_id, review)).to_dict()

    @api.post("/reports/{report_id}/status", summary="Set a report's status (new, in review, done)")
    async def api_status(report_id: str, body: StatusRequest):
        await run(bench.set_status, report_id, body.status, body.reviewer)
        return await run(bench.api_report, report_id, False)

    @api.get("/reports/{report_id}/export",
             summary="Export the reviewed result: accepted and added techniques, never rejected ones")
    async def api_export(report_id: str,
                         format: Literal["navigator", "stix", "case-study", "csv", "json"] = Query("json"),
                         incident_date: Optional[str] = Query(None, max_length=40, description=(
                             "When the incident happened (YYYY, YYYY-MM or YYYY-MM-DD), for the case study's "
                             "incident-date; without it the draft says the date is unknown."))):
        content, media, filename = await run(bench.export, report_id, format, incident_date)
        return Response(content, media_type=media, headers={"content-disposition": f'attachment; filename="{filename}"'})

    @api.get("/techniques", summary="Find techniques by ID or words")
    async def api_techniques(q: str = Query("", max_length=500), limit: int = Query(10, ge=1, le=100)):
        return await run(bench.search_techniques, q, limit)

    @api.get("/models", summary="Model versions: which is active, what each learned from, figures")
    async def api_models():
        return shown_models(await run(bench.models))

    @api.post("/models/retrain", status_code=202,
              summary="Retrain in the background with every report marked done")
    async def api_retrain():
        return {"version": await run(bench.retrain), "status": "training"}

    @api.post("/models/{version}/activate", summary="Go back (or forward) to a trained version")
    async def api_activate(version: int = PathParam(ge=1, le=2**62)):
        await run(bench.activate, version)
        return shown_models(await run(bench.models))

    # -- pages -----------------------------------------------------------------------------
    def page(request: Request, name: str, **context) -> HTMLResponse:
        csrf = signer.for_page(request)
        response = templates.TemplateResponse(request, name, {"csrf": csrf, "version": __version__,
                                                              "model_version": bench.version, **context})
        if request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        response.headers["cache-control"] = "no-store"
        return response

    @pages.get("/", response_class=HTMLResponse)
    async def queue_page(request: Request, q: str = "", technique: str = "", tactic: str = "", status: str = ""):
        rows = await run(bench.queue, q, technique, tactic, status)
        return page(request, "queue.html", rows=rows, q=q, technique=technique, tactic=tactic, status=status,
                    tactics=bench.base.kb.tactics, models=shown_models(await run(bench.models)),
                    max_upload_mb=max_upload_mb)

    @pages.post("/reports")
    async def add_reports(request: Request):
        form = await request.form(max_files=MAX_FILES, max_part_size=max_bytes)
        uploads = [f for f in form.getlist("files") if hasattr(f, "read") and f.filename]
        extracted = [await _extract(f, max_bytes) for f in uploads]  # all read before any is stored: no half batch
        created = [await _create(e, None) for e in extracted]
        text = str(form.get("text", ""))
        if text.strip():
            created.append(await run(bench.create_report, text, str(form.get("title", "")) or None, "pasted"))
        if not created:
            raise InputError("nothing to add: paste a write-up or choose files")
        target = f"/reports/{created[0]['id']}" if len(created) == 1 else "/"
        return RedirectResponse(target, status_code=303)

    @pages.get("/reports/{report_id}", response_class=HTMLResponse)
    async def report_page(request: Request, report_id: str, by: str = Query("score", max_length=20)):
        report, view = await run(bench.page, report_id, by)
        return page(request, "report.html", report=report, view=view)

    @pages.post("/reports/{report_id}/status")
    async def status_form(report_id: str, status: str = Form(...)):
        await run(bench.set_status, report_id, status)
        return RedirectResponse(f"/reports/{report_id}", status_code=303)

    @pages.post("/models/retrain")
    async def retrain_form():
        await run(bench.retrain)
        return RedirectResponse("/#models", status_code=303)

    @pages.post("/models/{version}/activate")
    async def activate_form(version: int = PathParam(ge=1, le=2**62)):
        await run(bench.activate, version)
        return RedirectResponse("/#models", status_code=303)

    @pages.get("/static/{name}")
    async def static(name: str):
        """The page's one script and one stylesheet, behind the token like everything else."""
        if name not in ("app.js", "app.css"):
            raise HTTPException(404, f"no file {name!r} here")
        return FileResponse(HERE / "static" / name, headers={"cache-control": "no-cache"})

    @pages.get("/openapi.json")
    async def openapi_description():
        return app.openapi()

    @pages.get("/docs", response_class=HTMLResponse)
    async def docs_page(request: Request):
        """The API documented from its own OpenAPI description (served here: no CDN)."""
        return page(request, "docs.html", api=app.openapi())

    app.include_router(api)
    app.include_router(pages)
    return app
