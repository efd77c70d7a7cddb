"""Server-side console sessions: the cookie holds only a random token; the session lives in the database
(exchange.store.sessions), so logout, disable, a role or perimeter change and the idle timeout end it on
every node."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from http.cookies import SimpleCookie

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.core.clock import utcnow
from exchange.store import sessions as stored
from exchange.store.engine import Engine, in_transaction

TOUCH_SECONDS = 60  # a session's last use is written at most this often (the idle timeout is in minutes)
NEW = "_nouvelle"  # set in a session to have it stored under a new token (every login, even as the same account)


def _key(token: str) -> str:
    """What the database keeps: the token's SHA-256 (a copy of the table opens no session)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class ServerSessions:
    """Puts the session (a dict) on scope["session"] and writes it back when the response starts. A new token
    is issued when a session starts and whenever its login changes (no fixation); the cookie carries no
    lifetime (it ends with the browser) and is sent only then: the server's idle timeout decides."""

    def __init__(
        self, app: ASGIApp, engine: Engine, idle_minutes: int, cookie: str, path: str, https_only: bool
    ) -> None:
        self.app, self.engine, self.idle = app, engine, timedelta(minutes=idle_minutes)
        self.cookie, self.path = cookie, path
        self.static = path.rstrip("/") + "/static/"  # assets need no session (no database read per file)
        self.flags = "; httponly; samesite=strict" + ("; secure" if https_only else "")

    def _token(self, scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed cookie header is no session
                    continue
                if self.cookie in jar:
                    return jar[self.cookie].value
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.static):
            await self.app(scope, receive, send)
            return
        token = self._token(scope)
        now = utcnow()
        found = (
            await run_in_threadpool(in_transaction, self.engine, stored.load, _key(token), now - self.idle)
            if token
            else None
        )
        session: dict = {**found.data, **({"login": found.login} if found.login else {})} if found else {}
        before = dict(session)
        scope["session"] = session

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await run_in_threadpool(self._persist, token, found, before, session)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_session)

    def _persist(
        self, token: str | None, found: stored.StoredSession | None, before: dict, session: dict
    ) -> str | None:
        """Write the session back; the Set-Cookie value when the browser's cookie must change."""
        now = utcnow()
        if not session:
            if found is not None:
                in_transaction(self.engine, stored.end, _key(token))  # type: ignore[arg-type] - found implies a token
            if token is not None:
                return f"{self.cookie}=; path={self.path}; max-age=0{self.flags}"
            return None
        login = session.get("login")
        fresh_asked = bool(session.pop(NEW, False))
        data = {k: v for k, v in session.items() if k != "login"}
        if found is None or login != found.login or fresh_asked:
            if found is not None:
                in_transaction(self.engine, stored.end, _key(token))  # type: ignore[arg-type]
            fresh = secrets.token_urlsafe(32)
            in_transaction(self.engine, stored.create, _key(fresh), login, data, now, now - self.idle)
            return f"{self.cookie}={fresh}; path={self.path}{self.flags}"
        if session != before:
            in_transaction(self.engine, stored.save, _key(token), data, now)  # type: ignore[arg-type]
        elif (now - found.seen_at).total_seconds() >= TOUCH_SECONDS:
            in_transaction(self.engine, stored.touch, _key(token), now)  # type: ignore[arg-type]
        return None
