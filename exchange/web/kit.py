"""What every console page and form uses: render a template, flash a message, redirect, who is logged in, the
page guard (login and role), the error page."""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exchange.core.perimeter import Perimeter, every_caf_refusal
from exchange.store import operators
from exchange.store.engine import Engine, in_transaction
from exchange.store.reads import files as file_reads
from exchange.web.security import client_address, csrf_token, peer_address

GESTIONNAIRE = "gestionnaire"
LARGEST_ID = 2**31 - 1  # the largest integer every database column holds: larger numbers name nothing
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
        # the drop area as the background lister last saw it (every page says when it does not answer)
        "depot_state": state.depot.state() if getattr(request.state, "operator", None) is not None else None,
        # launch, stop, pause the jobs that serve every Caf (drives_jobs): the buttons are shown to those it lets in
        "drives": getattr(request.state, "operator", None) is not None
        and perimeter is not None
        and may_drive_jobs(request),
        **context,
    }
    page: Response = state.templates.TemplateResponse(request, template, ctx, status_code=status_code)
    return page


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


UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


def disposition(name: str, kind: str = "attachment") -> str:
    """A Content-Disposition value whose file name cannot add a parameter or a header: the plain `filename` keeps
    only letters, digits, « . », « _ », « - » (anything else becomes « _ »), and `filename*` (RFC 6266) carries
    the name percent-encoded in UTF-8."""
    plain = UNSAFE_IN_NAME.sub("_", name)[:150] or "fichier"
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(name[:150], safe='')}"


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def file_in_perimeter(request: Request, file_id: int) -> dict[str, Any]:
    """The file's row; 404 when unknown or outside the perimeter of the operator or token (the same answer)."""
    with engine_of(request).connect() as conn:
        row = file_reads.get_file(conn, file_id, perimeter=request.state.perimeter)
    if row is None:
        raise HTTPException(404)
    return row


def resolve_operator(request: Request) -> dict[str, Any] | None:
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
    session_login = request.session.get("login")
    found = in_transaction(engine_of(request), operators.get_operator, session_login) if session_login else None
    return found if found is not None and found["disabled_at"] is None else None


def perimeter_of(operator: dict[str, Any]) -> Perimeter:
    """What this operator may see (spec cli.md « Who sees what »); every page passes it to the store's reads.
    An account without a perimeter sees nothing."""
    perimeter: Perimeter = operator["perimetre"]
    return perimeter


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
    """403 unless the operator is a national gestionnaire (core.perimeter.every_caf_refusal: the one rule)."""
    refusal = every_caf_refusal(request.state.operator["role"], request.state.perimeter)
    if refusal:
        raise HTTPException(403, refusal)


def check_role(request: Request, role: str | None) -> None:
    """403 when the operator (console session or API token) has not `role` (the console's and the API's one role
    check)."""
    if role and request.state.operator["role"] != role:
        raise HTTPException(403, "Action réservée aux gestionnaires : votre compte est en lecture seule.")


def drives_jobs(request: Request) -> None:
    """403 unless the operator may launch, stop or pause the jobs that serve every Caf (collect, nightly, campaign,
    the scheduler): a gestionnaire of national perimeter."""
    check_role(request, GESTIONNAIRE)
    national_only(request)


def may_drive_jobs(request: Request) -> bool:
    """Whether drives_jobs lets this operator through (to show or hide a button)."""
    try:
        drives_jobs(request)
    except HTTPException:
        return False
    return True


def page(
    role: str | None = None, *, every_caf: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: redirect to the login page when nobody is logged in, 403 below `role`; with `every_caf`
    (an action acting beyond any perimeter: launch, close, import, pause, accounts), 403 unless a national
    gestionnaire (the rule drives_jobs applies too), before anything is read or run."""

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            if any(isinstance(v, int) and v > LARGEST_ID for v in request.path_params.values()):
                raise HTTPException(404)  # /fichiers/999…9: no such number, whoever asks
            op = await run_in_threadpool(resolve_operator, request)
            if op is None:
                if request.method != "GET":
                    raise HTTPException(403, "Session expirée : reconnectez-vous.")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(request, f"/connexion?suite={quote(target, safe='')}")
            request.state.operator = op
            request.state.perimeter = perimeter_of(op)
            check_role(request, role)
            if every_caf:
                national_only(request)
            if inspect.iscoroutinefunction(fn):
                answer: Response = await fn(request)
                return answer
            # not a coroutine function: a plain handler (iscoroutinefunction narrows only its True branch)
            return await run_in_threadpool(cast(Callable[[Request], Response], fn), request)

        return endpoint

    return wrap


async def http_error(request: Request, exc: HTTPException) -> Response:
    if request.url.path.startswith(request.app.state.config.web.base_path + "/api/"):
        return json_error(exc)
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


# -- the JSON API's answers (exchange.web.api) --------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_answer(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, default=_plain, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def json_error(exc: HTTPException) -> Response:
    """An error as JSON: {"statut": 404, "erreur": "…"} (French), with the exception's headers."""
    default = {
        400: "Demande incorrecte.",
        401: "Jeton d'API absent, inconnu ou révoqué.",
        403: "Accès refusé.",
        404: "Ressource introuvable.",
        405: "Méthode refusée pour cette adresse.",
        409: "Action impossible dans l'état présent.",
        429: "Trop de tentatives.",
    }
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail and exc.status_code != 404 else None
    text = detail or default.get(exc.status_code, "Erreur.")
    return json_answer({"statut": exc.status_code, "erreur": text}, exc.status_code, exc.headers)
