"""The console's access log: one JSON-ready line per request (method, path without query, status, duration)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from schemas.masking import mask_nirs_in

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("esat_exchange.access")


class AccessLog:
    """ASGI middleware in place of uvicorn's access log: `accès HTTP` at INFO, after each response.

    The query string is never logged (a search may carry a NIR or a name); the path is NIR-masked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the application fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                "accès HTTP",
                extra={
                    "event": {
                        "event": "acces",
                        "method": scope.get("method", ""),
                        "path": mask_nirs_in(scope.get("root_path", "") + scope.get("path", "")),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                },
            )
