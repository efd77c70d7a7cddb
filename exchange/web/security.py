"""Console security: signed session cookie, who is logged in, CSRF tokens, login rate limit, security headers."""
from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.config import Config, ConfigError

log = logging.getLogger("esat_exchange")
SESSION_COOKIE = "esat_console"
SESSION_SECONDS = 8 * 3600
SECRET_ENV = "ESAT_EXCHANGE_WEB_SECRET"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def secret_key(config: Config) -> str:
    """The cookie-signing key: web.secret_key_file, else $ESAT_EXCHANGE_WEB_SECRET, else a random one."""
    if config.web.secret_key_file:
        path = config.path(config.web.secret_key_file)
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"web.secret_key_file: lecture impossible de {path} ({e.strerror})") from e
        if len(key) < 32:
            raise ConfigError(f"web.secret_key_file: la clé de {path} doit faire au moins 32 caractères")
        return key
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    log.warning("clé de session tirée au hasard (ni web.secret_key_file ni ESAT_EXCHANGE_WEB_SECRET) : "
                "les sessions ne survivent pas à un redémarrage de la console")
    return secrets.token_urlsafe(48)


def peer_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


class ProxyAndHeaders:
    """Outermost layer: trusts X-Forwarded-Proto only from listed proxies (Secure cookie over https),
    picks the session layer for the scheme and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, config: Config, key: str) -> None:
        self.trusted = set(config.web.trusted_proxies)
        common = dict(secret_key=key, session_cookie=SESSION_COOKIE, max_age=SESSION_SECONDS,
                      path=(config.web.base_path or "/"), same_site="strict")
        self.plain = SessionMiddleware(app, https_only=False, **common)
        self.secure = SessionMiddleware(app, https_only=True, **common)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.plain(scope, receive, send)
            return
        if peer_address(scope) in self.trusted:
            proto = dict(scope["headers"]).get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope = {**scope, "scheme": proto}

        async def with_headers(message: dict) -> None:
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


@dataclass
class LoginLimiter:
    """Failed logins per login and per address within a sliding window; beyond `attempts`, refused."""

    attempts: int
    window_seconds: float
    failures: dict[str, deque] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque:
        q = self.failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_seconds:
            q.popleft()
        return q

    def blocked(self, login: str, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return any(len(self._recent(k, now)) >= self.attempts for k in (f"login:{login}", f"addr:{address}"))

    def failed(self, login: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for k in (f"login:{login}", f"addr:{address}"):
            self._recent(k, now).append(now)

    def succeeded(self, login: str) -> None:
        self.failures.pop(f"login:{login}", None)


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
        raise HTTPException(403, "Formulaire refusé : jeton de sécurité (CSRF) absent ou invalide. "
                                 "Rechargez la page et recommencez.")
    return form
