"""Single sign-on (`[web.oidc]`): send the browser to the institution's OpenID provider, take it back, check the
ID token, map its claims to the account's role and perimeter, and open a console session."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exchange.config import OidcConfig
from exchange.edges import oidc
from exchange.store import operators
from exchange.store.engine import in_transaction
from exchange.web.kit import engine_of, render, safe_next
from exchange.web.security import client_address
from exchange.web.sessions import NEW

CALLBACK = "/connexion/oidc/retour"


def _config(request: Request) -> OidcConfig:
    config: OidcConfig = request.app.state.config.web.oidc
    if not config.enabled:
        raise HTTPException(404)
    return config


def _provider(request: Request) -> oidc.Provider:
    """The provider's metadata, discovered once per console process."""
    found = getattr(request.app.state, "oidc_provider", None)
    if found is None:
        found = oidc.discover(request.app.state.config.web.oidc)
        request.app.state.oidc_provider = found
    return found


def _redirect_uri(request: Request) -> str:
    return str(request.url.replace(path=request.app.state.config.web.base_path + CALLBACK, query=""))


def _refused(request: Request, reason: str, login: str = "?") -> Response:
    in_transaction(
        engine_of(request),
        operators.record_audit,
        login,
        "connexion_oidc",
        "REFUSE",
        None,
        reason,
        client_address(request),
    )
    return render(request, "login.html", status_code=403, suite="", error=f"Connexion refusée : {reason}.")


async def start(request: Request) -> Response:
    """GET /connexion/oidc: to the provider, with a fresh state, nonce and PKCE verifier kept in the session."""
    config = _config(request)
    try:
        provider = await run_in_threadpool(_provider, request)
    except oidc.OidcError as e:
        return await run_in_threadpool(_refused, request, str(e))
    url, pending = oidc.start(config, provider, _redirect_uri(request))
    request.session["oidc"] = {**asdict(pending), "suite": request.query_params.get("suite", "")}
    return RedirectResponse(url, status_code=303)


def _claims_to_account(config: OidcConfig, claims: dict[str, Any]) -> tuple[str, str, list[str]]:
    login = claims.get(config.login_claim)
    role = claims.get(config.role_claim)
    perimeters = claims.get(config.perimeter_claim)
    if isinstance(perimeters, str):
        perimeters = perimeters.replace(",", " ").split()
    if not isinstance(login, str) or not login:
        raise operators.OperatorError(f"l'attribut « {config.login_claim} » (identifiant) manque")
    if not isinstance(role, str):
        raise operators.OperatorError(f"l'attribut « {config.role_claim} » (rôle) manque")
    if not isinstance(perimeters, list) or not perimeters or not all(isinstance(p, str) for p in perimeters):
        raise operators.OperatorError(f"l'attribut « {config.perimeter_claim} » (périmètre) manque")
    return login, role, perimeters


def _finish(request: Request, pending: dict[str, Any]) -> Response:
    config = request.app.state.config.web.oidc
    if request.query_params.get("error"):
        return _refused(request, f"le fournisseur d'identité répond « {request.query_params['error']} »")
    try:
        claims = oidc.finish(
            config,
            _provider(request),
            oidc.Pending(pending["state"], pending["nonce"], pending["verifier"]),
            request.query_params.get("code", ""),
            _redirect_uri(request),
        )
        login, role, perimeters = _claims_to_account(config, claims)
    except (oidc.OidcError, operators.OperatorError) as e:
        return _refused(request, str(e))
    try:
        account = in_transaction(
            engine_of(request),
            operators.sync_operator,
            str(claims.get("iss") or ""),
            str(claims.get("sub") or ""),
            login,
            role,
            perimeters,
        )
    except operators.OperatorError as e:
        return _refused(request, str(e), login)
    if account["disabled_at"] is not None:
        return _refused(request, "ce compte est désactivé dans la console", login)
    request.session.clear()  # a fresh session (new token) for this login
    request.session["login"] = account["login"]
    request.session["sso"] = True
    request.session[NEW] = True
    in_transaction(
        engine_of(request),
        operators.record_audit,
        account["login"],
        "connexion_oidc",
        "OK",
        None,
        f"rôle {role}, périmètre {', '.join(account['perimetre'].labels())}",
        client_address(request),
    )
    base = request.app.state.config.web.base_path
    return RedirectResponse(base + safe_next(request, pending.get("suite")), status_code=303)


async def callback(request: Request) -> Response:
    """GET /connexion/oidc/retour: the state must be the one this browser's session sent (used once)."""
    _config(request)
    pending = request.session.pop("oidc", None)
    if not pending or request.query_params.get("state") != pending.get("state"):
        return await run_in_threadpool(
            _refused,
            request,
            "réponse du fournisseur d'identité inattendue (état inconnu ou déjà utilisé) : recommencez la connexion",
        )
    return await run_in_threadpool(_finish, request, pending)


def logout_target(request: Request) -> str | None:
    """After a single sign-on session's logout, the provider's logout page (it comes back to the login page)."""
    config = request.app.state.config.web.oidc
    if not config.enabled:
        return None
    try:
        provider = _provider(request)
    except oidc.OidcError:
        return None
    after = str(request.url.replace(path=request.app.state.config.web.base_path + "/connexion", query=""))
    return oidc.logout_url(provider, config, None, after)
