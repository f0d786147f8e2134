"""What stands between the network and the workbench: one ASGI middleware.

- **Host.** Bound to loopback, only loopback Host headers are served (no DNS rebinding).
- **Token.** When a token is set (required off loopback), every page and API call needs it: an
  ``Authorization: Bearer`` header, or the cookie that ``/?token=...`` sets once. Compared in
  constant time. ``/healthz`` stays open for liveness probes; it reveals nothing.
- **CSRF.** A state-changing request from another origin (``Origin`` or ``Sec-Fetch-Site`` says
  so) is refused. Otherwise it passes when a browser could not have sent it cross-site without a
  preflight we never grant: a JSON body, a bearer token, or a custom header (the pages send
  ``X-CSRF-Token``; scripts uploading files send ``X-Requested-By``). Plain HTML form posts carry
  the token in a hidden field, checked by the route. The token is signed with a secret of this
  server process, so a cookie planted by another site on the same host (cookies ignore ports)
  does not pass.
- **Size.** Request bodies over the limit are refused with 413 before they are read in full.
- **Headers.** A content security policy without inline script: write-up text can never run.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from urllib.parse import parse_qs, urlencode

from starlette.requests import cookie_parser

CSRF_COOKIE = "atlas_csrf"
TOKEN_COOKIE = "atlas_token"
CSRF_HEADER = "x-csrf-token"
SCRIPT_HEADER = "x-requested-by"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE = ("GET", "HEAD", "OPTIONS")
OPEN_PATHS = ("/healthz",)
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def is_loopback(host: str) -> bool:
    """An address only this machine can reach: 'localhost' or a loopback IP literal (never a host name)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def cookies(scope) -> dict[str, str]:
    """Starlette's lenient parser, as the routes use: one odd cookie of another app must not hide ours."""
    jar: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar.update(cookie_parser(value.decode("latin-1")))
    return jar


def headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


class Guard:
    def __init__(self, app, token: str | None, allowed_hosts: tuple[str, ...] | None, max_body: int, signer: CsrfSigner):
        """``allowed_hosts``: the Host names served (None: any, behind the token)."""
        self.app = app
        self.token = token or None
        self.allowed_hosts = allowed_hosts
        self.max_body = max_body
        self.signer = signer

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        head, jar, path = headers(scope), cookies(scope), scope["path"]
        host = head.get("host", "").rsplit(":", 1)[0] if not head.get("host", "").startswith("[") else head["host"].split("]")[0] + "]"
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return await _error(send, 421, f"host {host!r} is not served: this server answers on loopback only")
        bearer = head.get("authorization", "")[7:].strip() if head.get("authorization", "").lower().startswith("bearer ") else None
        authorised = self.token is None or same(bearer, self.token) or same(jar.get(TOKEN_COOKIE), self.token)
        if self.token and not authorised and path not in OPEN_PATHS:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if scope["method"] == "GET" and same((query.get("token") or [None])[0], self.token):
                return await _login_redirect(send, path, query, self.token)
            return await _error(send, 401, "this server needs its access token: send 'Authorization: Bearer TOKEN' "
                                           "or open the page once as /?token=TOKEN",
                                [(b"www-authenticate", b"Bearer")])
        if scope["method"] not in SAFE and not self._csrf_safe(scope, head, jar, bearer, path):
            return await _error(send, 403, "cross-site request refused: send JSON, the access token, or the page's "
                                           "X-CSRF-Token header (scripts uploading files: an X-Requested-By header)")
        length = head.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _error(send, 413, f"request body over the limit of {self.max_body:,} bytes; "
                                           "upload a smaller file or start the server with a larger --max-upload-mb")
        # the pages' CSRF token: the cookie's if this process signed it, else a new one the page sets (see app.page)
        cookie = jar.get(CSRF_COOKIE)
        scope.setdefault("state", {})["csrf"] = cookie if self.signer.valid(cookie) else self.signer.new()
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, self._limited(receive), send_with_headers)
        except BodyTooLarge as exc:  # a chunked body that gave no length up front
            if not started:
                await _error(send, 413, f"{exc}; upload a smaller file or start the server with a larger --max-upload-mb")

    def _csrf_safe(self, scope, head: dict, jar: dict, bearer: str | None, path: str) -> bool:
        if self.token and same(bearer, self.token):
            return True  # a script with the token: browsers never add it on their own
        origin = head.get("origin")
        own = f"{scope.get('scheme', 'http')}://{head.get('host', '')}"
        if (origin and origin != "null" and origin != own) or head.get("sec-fetch-site") in ("cross-site", "same-site"):
            return False
        content_type = head.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return True
        if same(head.get(CSRF_HEADER), jar.get(CSRF_COOKIE)) and self.signer.valid(head.get(CSRF_HEADER)):
            return True
        if path.startswith("/api/"):
            return SCRIPT_HEADER in head  # a custom header: cross-site, it needs a preflight we never grant
        # HTML form posts to the pages: the route checks the hidden field against the cookie
        return content_type in ("application/x-www-form-urlencoded", "multipart/form-data")

    def _limited(self, receive):
        seen = 0

        async def wrapped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        return wrapped


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body over the limit of {limit:,} bytes")
        self.limit = limit


async def _error(send, status: int, message: str, extra: list | None = None):
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def _login_redirect(send, path: str, query: dict, token: str):
    """``?token=`` once: set the cookie and drop the token from the address bar (and history)."""
    rest = urlencode({k: v for k, v in query.items() if k != "token"}, doseq=True)
    location = path + (f"?{rest}" if rest else "")
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": b""})
