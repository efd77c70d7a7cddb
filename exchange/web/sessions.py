"""Server-side console sessions: the cookie holds only a random token; the session lives in the database
(exchange.store.sessions), so logout, disable, a role or perimeter change and the idle timeout end it on
every node. Before login nothing is stored on the server: a visitor's few values (the login form's CSRF token,
a single sign-on under way, a message) travel in the same cookie, signed with the console's key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.core.clock import utcnow
from exchange.store import sessions as stored
from exchange.store.engine import Engine, in_transaction

TOUCH_SECONDS = 60  # a session's last use is written at most this often (the idle timeout is in minutes)
NEW = "_nouvelle"  # set in a session to have it stored under a new token (every login, even as the same account)
VISITOR = "v."  # a visitor's cookie (before login): « v.<data>.<signature> »; a session's is its bare token
VISITOR_KEY = "visiteur"  # the name of the console key that signs it (exchange.store.sessions.console_key)
VISITOR_BYTES = 3000  # a visitor's cookie longer than this is not read (browsers keep 4 KB a cookie)


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
        self._key: bytes | None = None

    def key(self) -> bytes:
        """The console's key for visitors' cookies, read once per process (every node shares it)."""
        if self._key is None:
            self._key = in_transaction(self.engine, stored.console_key, VISITOR_KEY).encode("ascii")
        return self._key

    def _signature(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key(), data, hashlib.sha256).digest()).decode().rstrip("=")

    def visitor_cookie(self, session: dict[str, Any]) -> str:
        """A visitor's session as a cookie value: its data and the time, signed."""
        data = base64.urlsafe_b64encode(json.dumps({**session, "_t": int(time.time())}).encode()).decode()
        return f"{VISITOR}{data}.{self._signature(data.encode())}"

    def visitor_session(self, value: str) -> dict[str, Any] | None:
        """A visitor's session from its cookie; None when the signature is wrong or it is older than the idle
        timeout."""
        if len(value) > VISITOR_BYTES:
            return None
        data, _, signature = value[len(VISITOR) :].partition(".")
        if not hmac.compare_digest(signature, self._signature(data.encode("ascii", "replace"))):
            return None
        try:
            session = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except (ValueError, TypeError):
            return None
        if not isinstance(session, dict) or "login" in session:
            return None
        issued = session.pop("_t", 0)
        if not isinstance(issued, int) or time.time() - issued > self.idle.total_seconds():
            return None
        return session

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
        found: stored.StoredSession | None = None
        session: dict[str, Any] = {}
        if token and token.startswith(VISITOR):
            visited = await run_in_threadpool(self.visitor_session, token)
            session = visited or {}
        elif token:
            # never early: a session's last use is written at most every TOUCH_SECONDS, so it may be that much later
            found = await run_in_threadpool(
                in_transaction, self.engine, stored.load, _key(token), self.idle_before(now)
            )
            session = {**found.data, **({"login": found.login} if found.login else {})} if found else {}
        before = dict(session)
        scope["session"] = session

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await run_in_threadpool(self._persist, token, found, before, session)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_session)

    def idle_before(self, now: datetime) -> datetime:
        """Sessions last seen before this have been idle longer than the timeout (whatever their unwritten uses)."""
        return now - self.idle - timedelta(seconds=TOUCH_SECONDS)

    def _persist(
        self, token: str | None, found: stored.StoredSession | None, before: dict[str, Any], session: dict[str, Any]
    ) -> str | None:
        """Write the session back; the Set-Cookie value when the browser's cookie must change."""
        now = utcnow()
        if not session:
            if found is not None:
                assert token is not None  # a stored session is found only from its token
                in_transaction(self.engine, stored.end, _key(token))
            if token is not None:
                return f"{self.cookie}=; path={self.path}; max-age=0{self.flags}"
            return None
        login = session.get("login")
        fresh_asked = bool(session.pop(NEW, False))
        data = {k: v for k, v in session.items() if k != "login"}
        if not login:  # a visitor: nothing on the server, the signed cookie when its values changed
            if found is not None:
                assert token is not None  # a stored session is found only from its token
                in_transaction(self.engine, stored.end, _key(token))
            if found is None and token is not None and token.startswith(VISITOR) and session == before:
                return None
            return f"{self.cookie}={self.visitor_cookie(data)}; path={self.path}{self.flags}"
        if found is None or login != found.login or fresh_asked:
            if found is not None:
                assert token is not None  # a stored session is found only from its token
                in_transaction(self.engine, stored.end, _key(token))
            fresh = secrets.token_urlsafe(32)
            in_transaction(self.engine, stored.create, _key(fresh), login, data, now, self.idle_before(now))
            return f"{self.cookie}={fresh}; path={self.path}{self.flags}"
        assert token is not None  # a stored session is found only from its token
        if session != before:
            in_transaction(self.engine, stored.save, _key(token), data, now)
        elif (now - found.seen_at).total_seconds() >= TOUCH_SECONDS:
            in_transaction(self.engine, stored.touch, _key(token), now)
        return None
