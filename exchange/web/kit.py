"""What every console page and form uses: render a template, flash a message, redirect, who is logged in, the
page guard (login and role), the error page."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exchange.core.perimeter import Perimeter
from exchange.store import operators
from exchange.store.engine import Engine, in_transaction
from exchange.web.security import client_address, csrf_token, peer_address

GESTIONNAIRE = "gestionnaire"
Handler = Callable[[Request], Awaitable[Response] | Response]


def render(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    """A page with the common context: base path, operator, CSRF token, flash messages."""
    state = request.app.state
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    perimeter = getattr(request.state, "perimeter", None)
    ctx = {
        "base": state.config.web.base_path,
        "operator": getattr(request.state, "operator", None),
        "national": perimeter is not None and perimeter.national,
        "oidc_label": state.config.web.oidc.label if state.config.web.oidc.enabled else None,
        "perimetre": ", ".join(perimeter.labels()) if perimeter is not None else "",
        "csrf": csrf_token(request) if "session" in request.scope else "",
        "flashes": flashes,
        "gestionnaire": getattr(request.state, "operator", None) is not None
        and request.state.operator["role"] == GESTIONNAIRE,
        **context,
    }
    return state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


def flash(request: Request, kind: str, text: str) -> None:
    """A message shown once on the next page (kind: success, error, info, warning)."""
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(request.app.state.config.web.base_path + path, status_code=303)


def safe_next(request: Request, value: str | None) -> str:
    """Only a path of this console (no open redirect)."""
    base = request.app.state.config.web.base_path
    if value and value.startswith(base + "/") and not value.startswith("//") and "\\" not in value:
        return value[len(base) :]
    return "/"


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def resolve_operator(request: Request) -> dict | None:
    """The logged-in operator: the proxy's header when it comes from a listed proxy, else the session."""
    web = request.app.state.config.web
    if web.proxy_header and peer_address(request.scope) in web.trusted_proxies:
        login = request.headers.get(web.proxy_header, "").strip()
        if login:
            found = in_transaction(engine_of(request), operators.get_operator, login)
            if found is None or found["disabled_at"] is not None:
                raise HTTPException(
                    403, f"Le compte « {login} » transmis par le mandataire n'est pas un opérateur actif de la console."
                )
            return found
    login = request.session.get("login")
    found = in_transaction(engine_of(request), operators.get_operator, login) if login else None
    return found if found is not None and found["disabled_at"] is None else None


def perimeter_of(operator: dict) -> Perimeter:
    """What this operator may see (spec cli.md « Who sees what »); every page passes it to the store's reads.
    An account without a perimeter sees nothing."""
    return operator["perimetre"]


def view_audit(
    request: Request,
    action: str,
    target: str,
    *,
    siret: str | None = None,
    file_id: int | None = None,
    detail: str | None = None,
) -> None:
    """One journal line for a view of worker-level data (a file page, a compte rendu, an export)."""
    in_transaction(
        engine_of(request),
        operators.record_audit,
        request.state.operator["login"],
        action,
        "OK",
        target,
        detail,
        client_address(request),
        siret=siret,
        file_id=file_id,
    )


def national_only(request: Request) -> None:
    """403 unless the operator's perimeter is national (actions that touch every Caf: import, campaign close)."""
    if not request.state.perimeter.national:
        raise HTTPException(403, "Action réservée aux opérateurs de périmètre national.")


def page(role: str | None = None) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: redirect to the login page when nobody is logged in, 403 below `role`."""

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            op = await run_in_threadpool(resolve_operator, request)
            if op is None:
                if request.method != "GET":
                    raise HTTPException(403, "Session expirée : reconnectez-vous.")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(request, f"/connexion?suite={quote(target, safe='')}")
            request.state.operator = op
            request.state.perimeter = perimeter_of(op)
            if role and op["role"] != role:
                raise HTTPException(403, "Action réservée aux gestionnaires : votre compte est en lecture seule.")
            if inspect.iscoroutinefunction(fn):
                return await fn(request)
            return await run_in_threadpool(fn, request)

        return endpoint

    return wrap


async def http_error(request: Request, exc: HTTPException) -> Response:
    titles = {
        400: "Demande incorrecte",
        403: "Accès refusé",
        404: "Page introuvable",
        405: "Méthode refusée",
        429: "Trop de tentatives",
    }
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "Cette page n'existe pas."
    if exc.status_code == 405:
        detail = "Cette adresse ne s'utilise pas ainsi."
    return render(
        request, "error.html", status_code=exc.status_code, title=titles.get(exc.status_code, "Erreur"), detail=detail
    )
