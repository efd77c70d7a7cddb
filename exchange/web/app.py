"""The console's ASGI application: routes, templates, who is logged in, error pages."""
from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import quote

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from exchange.store import operators
from exchange.config import Config
from exchange.web import formats
from exchange.web.security import LoginLimiter, ProxyAndHeaders, csrf_token, peer_address, secret_key

HERE = Path(__file__).resolve().parent
DSFR_DIST = HERE / "node_modules" / "@gouvfr" / "dsfr" / "dist"
GESTIONNAIRE = "gestionnaire"
Handler = Callable[[Request], Awaitable[Response] | Response]


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(paris=formats.paris, duree=formats.duration, nombre=formats.number, badge=formats.badge)
    t.env.trim_blocks = t.env.lstrip_blocks = True
    return t


def render(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    """A page with the common context: base path, operator, CSRF token, flash messages."""
    state = request.app.state
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    ctx = {"base": state.config.web.base_path, "operator": getattr(request.state, "operator", None),
           "csrf": csrf_token(request) if "session" in request.scope else "", "flashes": flashes,
           "gestionnaire": getattr(request.state, "operator", None) is not None
           and request.state.operator["role"] == GESTIONNAIRE, **context}
    return state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


def flash(request: Request, kind: str, text: str) -> None:
    """A message shown once on the next page (kind: success, error, info, warning)."""
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(request.app.state.config.web.base_path + path, status_code=303)


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def resolve_operator(request: Request) -> dict | None:
    """The logged-in operator: the proxy's header when it comes from a listed proxy, else the session."""
    web = request.app.state.config.web
    if web.proxy_header and peer_address(request.scope) in web.trusted_proxies:
        login = request.headers.get(web.proxy_header, "").strip()
        if login:
            found = operators.get_operator(engine_of(request), login)
            if found is None:
                raise HTTPException(403, f"Le compte « {login} » transmis par le mandataire n'est pas un "
                                         "opérateur de la console.")
            return found
    login = request.session.get("login")
    return operators.get_operator(engine_of(request), login) if login else None


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
            if role and op["role"] != role:
                raise HTTPException(403, "Action réservée aux gestionnaires : votre compte est en lecture seule.")
            if inspect.iscoroutinefunction(fn):
                return await fn(request)
            return await run_in_threadpool(fn, request)
        return endpoint
    return wrap


async def http_error(request: Request, exc: HTTPException) -> Response:
    titles = {400: "Demande incorrecte", 403: "Accès refusé", 404: "Page introuvable", 405: "Méthode refusée",
              429: "Trop de tentatives"}
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "Cette page n'existe pas."
    if exc.status_code == 405:
        detail = "Cette adresse ne s'utilise pas ainsi."
    return render(request, "error.html", status_code=exc.status_code,
                  title=titles.get(exc.status_code, "Erreur"), detail=detail)


def create_app(config: Config, engine: Engine) -> Starlette:
    """The console for this configuration and database."""
    from exchange.web import actions, pages, verify

    routes = [
        Route("/", pages.dashboard, name="dashboard"),
        Route("/executions", pages.runs_list),
        Route("/executions/{run_id:int}", pages.run_detail),
        Route("/fichiers", pages.files_list),
        Route("/fichiers/{file_id:int}", pages.file_detail),
        Route("/fichiers/{file_id:int}/cr/{name}", pages.compte_rendu),
        Route("/fichiers/{file_id:int}/rejouer", actions.replay_confirm, methods=["GET"]),
        Route("/fichiers/{file_id:int}/rejouer", actions.replay, methods=["POST"]),
        Route("/campagne", pages.campaign),
        Route("/campagne.csv", pages.campaign_csv),
        Route("/campagne/cloture", actions.campaign_close, methods=["POST"]),
        Route("/habilitations", pages.habilitations, methods=["GET"]),
        Route("/habilitations", actions.habilitations_import, methods=["POST"]),
        Route("/migration", pages.migration, methods=["GET"]),
        Route("/migration", actions.migration_report, methods=["POST"]),
        Route("/journal", pages.audit),
        Route("/connexion", actions.login_form, methods=["GET"]),
        Route("/connexion", actions.login, methods=["POST"]),
        Route("/deconnexion", actions.logout, methods=["POST"]),
        *verify.routes(config),  # « Vérifier mon fichier », public
        Mount("/static/dsfr", app=StaticFiles(directory=str(DSFR_DIST), check_dir=False), name="dsfr"),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    if config.web.base_path:
        routes = [Mount(config.web.base_path, routes=routes)]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.config = config
    app.state.engine = engine
    app.state.templates = templates()
    app.state.limiter = LoginLimiter(config.web.login_attempts, config.web.login_window_seconds)
    return ProxyAndHeaders(app, config, secret_key(config))  # type: ignore[return-value]


def dsfr_installed() -> bool:
    return (DSFR_DIST / "dsfr.min.css").is_file()
