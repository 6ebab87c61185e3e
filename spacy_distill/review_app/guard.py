"""The review server's guard: which hosts and tokens it serves, and the checks on every request.

Security: on a loopback address only requests whose Host header names that
address are served (no DNS rebinding). With an access token (required on any
other address) every request needs it: `?token=` once (it becomes an
HttpOnly, SameSite=Strict cookie), or `Authorization: Bearer TOKEN`. Requests
that change data must be JSON, carry the page's CSRF token in X-CSRF-Token
and come from the page's own origin.
"""

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any, Optional, Set
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .storage import ReviewError

TOKEN_ENV = "SPACY_DISTILL_REVIEW_TOKEN"
MIN_TOKEN_LENGTH = 16
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


@dataclass
class Settings:
    """How the app behaves. allowed_hosts: Host header values to serve (None: any)."""

    token: Optional[str] = None
    allowed_hosts: Optional[Set[str]] = None
    annotator: Optional[str] = None
    overlap: bool = False
    order: str = "as-is"
    order_note: str = ""
    cookie: str = "spacy_distill_review"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: Optional[str]) -> None:
    """Refuse a host other than loopback without a token, and any weak token."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ReviewError(
            f"The access token is too short: use at least {MIN_TOKEN_LENGTH} characters, e.g. {secrets.token_urlsafe(24)}"
        )
    if token is None and not is_loopback(host):
        raise ReviewError(
            f"--host {host} makes the review page reachable from other machines, so it needs an access token: "
            f"pass --token (or set {TOKEN_ENV}), e.g. --token {secrets.token_urlsafe(24)}"
        )


def allowed_hosts(host: str, port: int) -> Optional[Set[str]]:
    """Host headers to accept: on loopback, the loopback names with this port; elsewhere any."""
    if not is_loopback(host):
        return None
    names = {"127.0.0.1", "localhost", "[::1]", host.lower() if ":" not in host else f"[{host.strip('[]')}]"}
    return {f"{name}:{port}" for name in names} | (names if port == 80 else set())


class Guard:
    """ASGI middleware: Host check, access token, CSRF and origin checks, security headers."""

    def __init__(self, app: Any, settings: Settings, csrf: str):
        self.app = app
        self.settings = settings
        self.csrf = csrf

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS if h[0] not in names
                ]
            await send(message)

        request = Request(scope)
        refusal = self.check(request)
        if refusal is not None:
            return await refusal(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)

    def check(self, request: Request) -> Optional[Response]:
        settings = self.settings
        host = request.headers.get("host", "").lower()
        if settings.allowed_hosts is not None and host not in settings.allowed_hosts:
            return refuse(400, f"unexpected Host header {host!r:.80}; open the address the server printed", request)
        if settings.token is not None:
            offered = request.query_params.get("token")
            if offered is not None and request.method == "GET":
                if not hmac.compare_digest(offered.encode(), settings.token.encode()):
                    return refuse(401, "wrong access token", request)
                query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                path = "/" + request.url.path.lstrip("/")  # never //host: no redirect off this server
                response = RedirectResponse(path + ("?" + query if query else ""), status_code=303)
                response.set_cookie(settings.cookie, settings.token, httponly=True, samesite="strict", path="/")
                return response
            supplied = request.cookies.get(settings.cookie)
            authorization = request.headers.get("authorization", "")
            if authorization.lower().startswith("bearer "):
                supplied = authorization[7:].strip()
            if supplied is None or not hmac.compare_digest(supplied.encode(), settings.token.encode()):
                return refuse(
                    401,
                    "an access token is required: open the address the server printed (it ends in ?token=...)",
                    request,
                )
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc.lower() != host:
                return refuse(403, "cross-origin request refused", request)
            if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return refuse(403, "cross-site request refused", request)
            if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                return refuse(415, "send JSON (Content-Type: application/json)", request)
            given = request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(given.encode(), self.csrf.encode()):
                return refuse(403, "missing or wrong CSRF token (X-CSRF-Token); reload the page", request)
        return None


def refuse(status: int, message: str, request: Request) -> Response:
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=status)
    return Response(f"{status}: {message}\n", status_code=status, media_type="text/plain; charset=utf-8")
