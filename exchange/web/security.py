"""Console security: the session layer for the scheme, the client's address behind a trusted proxy, CSRF tokens,
security headers."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.config import Config
from exchange.store.engine import Engine
from exchange.web.sessions import ServerSessions

SESSION_COOKIE = "esat_console"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def peer_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


def client_address(request: Request) -> str:
    """The client's address: the peer's, or when the peer is a `[web] trusted_proxies` entry, the nearest
    address of X-Forwarded-For that is not a trusted proxy (what the proxy itself saw; a client cannot forge it)."""
    peer = peer_address(request.scope)
    trusted = request.app.state.config.web.trusted_proxies
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:100]
    return peer


class ProxyAndHeaders:
    """Outermost layer: trusts X-Forwarded-Proto only from listed proxies (Secure cookie over https),
    picks the session layer for the scheme and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, config: Config, engine: Engine) -> None:
        self.trusted = set(config.web.trusted_proxies)

        def sessions(https_only: bool) -> ServerSessions:
            return ServerSessions(
                app,
                engine=engine,
                idle_minutes=config.web.session_idle_minutes,
                cookie=SESSION_COOKIE,
                path=(config.web.base_path or "/"),
                https_only=https_only,
            )

        self.plain = sessions(https_only=False)
        self.secure = sessions(https_only=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.plain(scope, receive, send)
            return
        if peer_address(scope) in self.trusted:
            proto = dict(scope["headers"]).get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope = {**scope, "scheme": proto}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        layer = self.secure if scope["scheme"] == "https" else self.plain
        await layer(scope, receive, with_headers)


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's; 403 otherwise."""
    form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(
            403, "Formulaire refusé : jeton de sécurité (CSRF) absent ou invalide. Rechargez la page et recommencez."
        )
    return form
