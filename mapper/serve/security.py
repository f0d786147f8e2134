"""What stands between the network and the workbench, by Starlette's and FastAPI's own means.

Starlette middleware, on every request before any route runs (:func:`install`):

- **Headers.** A content security policy without inline script (write-up text can never run), and
  no sniffing, framing or referrer.
- **Host.** Bound to loopback, only loopback Host headers are served (no DNS rebinding): 421.
- **Size.** Request bodies over the limit are refused with 413 before they are read in full.

FastAPI dependencies, on every route of the pages and the API (:class:`Protection`):

- **Token** (:meth:`Protection.authorised`, a ``Security`` dependency on ``HTTPBearer``, so the OpenAPI
  description declares the bearer scheme). When a token is set (required off loopback), every page and
  API call needs it: an ``Authorization: Bearer`` header, or the cookie that ``/?token=...`` sets once.
  Compared in constant time. ``/healthz`` stays open for liveness probes; it reveals nothing.
- **CSRF** (:meth:`Protection.csrf`, run for every state-changing method, so no route can forget it).
  A request from another origin (``Origin`` or ``Sec-Fetch-Site`` says so) is refused. Otherwise it passes
  when a browser could not have sent it cross-site without a preflight we never grant: a JSON body, a
  bearer token, or a custom header (the pages' scripts send ``X-CSRF-Token``; scripts uploading files send
  ``X-Requested-By``); a page's HTML form carries the token in its ``csrf_token`` field. The token is
  signed with a secret of this server process, so a cookie planted by another site on the same host
  (cookies ignore ports) does not pass.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlencode

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

CSRF_COOKIE = "atlas_csrf"
TOKEN_COOKIE = "atlas_token"
CSRF_HEADER = "x-csrf-token"
SCRIPT_HEADER = "x-requested-by"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE = ("GET", "HEAD", "OPTIONS")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
BEARER = HTTPBearer(auto_error=False, description="The server's access token (needed when it was started with one).")


def is_loopback(host: str) -> bool:
    """An address only this machine can reach: 'localhost' or a loopback IP literal (never a host name)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


class CsrfSigner:
    """CSRF tokens signed with a secret of this server process: ``random.signature``."""

    def __init__(self):
        self._key = secrets.token_bytes(32)

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def new(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, token: str | None) -> bool:
        nonce, _, signature = (token or "").partition(".")
        return bool(nonce) and same(signature, self._sign(nonce))

    def for_page(self, request: Request) -> str:
        """The token a page embeds: the browser's cookie if this process signed it, else a new one."""
        cookie = request.cookies.get(CSRF_COOKIE)
        return cookie if self.valid(cookie) else self.new()


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body over the limit of {limit:,} bytes")
        self.limit = limit


class LoginRedirect(Exception):
    """``?token=`` once: answered with the cookie set and the token dropped from the address bar."""

    def __init__(self, location: str, token: str):
        self.location, self.token = location, token


# -- middleware ------------------------------------------------------------------------
def too_large_message(limit: int) -> str:
    return f"request body over the limit of {limit:,} bytes; upload a smaller file or start the server with a " \
           "larger --max-upload-mb"


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HostCheck:
    """``allowed``: the Host names served (None: any, behind the token)."""

    def __init__(self, app, allowed: tuple[str, ...] | None):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.allowed is not None:
            given = Headers(scope=scope).get("host", "")
            host = given.split("]")[0] + "]" if given.startswith("[") else given.rsplit(":", 1)[0]
            if host not in self.allowed:
                message = f"host {host!r} is not served: this server answers on loopback only"
                return await JSONResponse({"error": message}, status_code=421)(scope, receive, send)
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a declared length over ``limit``; a chunked body is counted as it is read."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await JSONResponse({"error": too_large_message(self.limit)}, status_code=413)(scope, receive, send)
        seen, started = 0, False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:  # raised outside any route's handlers (the app answers it itself otherwise)
            if not started:
                await JSONResponse({"error": too_large_message(self.limit)}, status_code=413)(scope, receive, send)


def install(app, hosts: tuple[str, ...] | None, max_bytes: int) -> None:
    """The middleware, outermost first: headers on every answer, then the host, then the size."""
    app.add_middleware(BodyLimit, limit=max_bytes)
    app.add_middleware(HostCheck, allowed=hosts)
    app.add_middleware(SecurityHeaders)


# -- dependencies --------------------------------------------------------------------
class Protection:
    """The token and CSRF checks of one app, as FastAPI dependencies (see the module docstring)."""

    def __init__(self, token: str | None, signer: CsrfSigner, max_files: int, max_bytes: int):
        self.token = token or None
        self.signer = signer
        self.max_files, self.max_bytes = max_files, max_bytes

    def bearer(self, credentials: HTTPAuthorizationCredentials | None) -> str | None:
        return credentials.credentials if credentials is not None else None

    async def authorised(self, request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Security(BEARER)) -> None:
        token = self.token
        if token is None or same(self.bearer(credentials), token) or same(request.cookies.get(TOKEN_COOKIE), token):
            return
        if request.method == "GET" and same(request.query_params.get("token"), token):
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            raise LoginRedirect(request.url.path + (f"?{rest}" if rest else ""), token)
        raise HTTPException(401, "this server needs its access token: send 'Authorization: Bearer TOKEN' or open the "
                                 "page once as /?token=TOKEN", headers={"www-authenticate": "Bearer"})

    async def csrf(self, request: Request, credentials: HTTPAuthorizationCredentials | None = Security(BEARER)) -> None:
        if request.method in SAFE or await self._csrf_safe(request, self.bearer(credentials)):
            return
        raise HTTPException(403, "cross-site request refused: send JSON, the access token, or the page's "
                                 "X-CSRF-Token header (scripts uploading files: an X-Requested-By header; "
                                 "forms: reload the page for a fresh csrf_token)")

    async def _csrf_safe(self, request: Request, bearer: str | None) -> bool:
        if self.token and same(bearer, self.token):
            return True  # a script with the token: browsers never add it on their own
        head = request.headers
        origin = head.get("origin")
        own = f"{request.url.scheme}://{head.get('host', '')}"
        if (origin and origin != "null" and origin != own) or head.get("sec-fetch-site") in ("cross-site", "same-site"):
            return False
        content_type = head.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return True
        cookie = request.cookies.get(CSRF_COOKIE)
        if same(head.get(CSRF_HEADER), cookie) and self.signer.valid(head.get(CSRF_HEADER)):
            return True
        if request.url.path.startswith("/api/"):
            return SCRIPT_HEADER in head  # a custom header: cross-site, it needs a preflight we never grant
        if content_type not in FORM_TYPES:
            return False
        # a page's form: its hidden field must match the cookie this process signed (the form is parsed once,
        # with the app's limits; the route reads the same parsed form)
        form = await request.form(max_files=self.max_files, max_part_size=self.max_bytes)
        field = form.get("csrf_token")
        return isinstance(field, str) and same(field, cookie) and self.signer.valid(field)


def login_response(exc: LoginRedirect):
    from starlette.responses import RedirectResponse

    response = RedirectResponse(exc.location, status_code=303)
    response.set_cookie(TOKEN_COOKIE, exc.token, path="/", httponly=True, samesite="strict")
    return response
