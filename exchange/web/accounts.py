"""The console's accounts pages (`/operateurs`), for national gestionnaires only: the list, a new account, one
account's page with its forms (role and perimeter, password, disable or enable), the removal's confirmation.

Every action checks the CSRF token, calls the same use case as `esat-exchange operators` (exchange.app.accounts),
writes one journal line under the command line's action names (operateur_ajout, operateur_disable,
operateur_enable, operateur_remove; never a password), flashes a French message and answers 303.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from exchange.app import accounts
from exchange.core.perimeter import CNA, NATIONAL
from exchange.store.operators import OperatorError
from exchange.web.actions import _audit
from exchange.web.kit import GESTIONNAIRE, engine_of, flash, page, redirect, render
from exchange.web.security import checked_form

AJOUT, DISABLE, ENABLE, REMOVE = "operateur_ajout", "operateur_disable", "operateur_enable", "operateur_remove"
ROLE_TEXT = {"lecteur": "lecteur (consulte)", "gestionnaire": "gestionnaire (peut aussi rejouer, importer, clôturer)"}


def _target(login: str) -> str:
    return f"opérateur {login}"


def _account_path(login: str) -> str:
    return f"/operateurs/compte?login={quote(login, safe='')}"


def _perimeters(form: FormData) -> list[str]:
    """The checked boxes (national, cna) and the typed Caf codes (spaces or commas between them)."""
    values = [v for v in (NATIONAL, CNA) if form.get(v) == "oui"]
    typed = str(form.get("cafs", "")).replace(",", " ").replace(";", " ").split()
    return values + typed


def _password(form: FormData) -> tuple[str | None, str | None]:
    """(password or None for none, refusal): « sans mot de passe » checked, or the two typed fields alike."""
    first, second = str(form.get("password", "")), str(form.get("password2", ""))
    if form.get("sans_mot_de_passe") == "oui":
        if first or second:
            return None, "décochez « sans mot de passe » ou videz les champs du mot de passe"
        return None, None
    if not first:
        return None, "saisissez un mot de passe ou cochez « sans mot de passe »"
    if first != second:
        return None, "les deux mots de passe diffèrent"
    return first, None


def _role(form: FormData) -> str:
    return str(form.get("role", "")).strip()


def _sessions(saved: accounts.Saved) -> str:
    return " Ses sessions ouvertes sont fermées : il doit se reconnecter." if saved.sessions_ended else ""


def _own_sessions_ended(request: Request, text: str) -> Response:
    """The operator changed its own account (what the rules allow): its sessions, this one included, are ended;
    the login page says why (a fresh session, without a login, carries the message)."""
    request.session.clear()
    flash(request, "success", f"{text} Vos sessions sont fermées : reconnectez-vous.")
    return redirect(request, "/connexion")


# -- pages ------------------------------------------------------------------------------------------


@page(role=GESTIONNAIRE, every_caf=True)
def operators_list(request: Request) -> Response:
    rows = accounts.list_accounts(engine_of(request), activity=True)
    names = accounts.caf_names()
    for r in rows:
        r["perimetre_texte"] = accounts.perimeter_text(r["perimetre"], names)
        r["href"] = _account_path(r["login"])
    return render(request, "operators.html", nav="operators", accounts=rows)


def _form_page(request: Request, status_code: int = 200, error: str | None = None, **values: object) -> Response:
    return render(
        request,
        "operator_new.html",
        status_code=status_code,
        nav="operators",
        error=error,
        roles=ROLE_TEXT,
        values=values,
    )


@page(role=GESTIONNAIRE, every_caf=True)
def new_form(request: Request) -> Response:
    return _form_page(request, role="lecteur", login="", national=False, cna=False, cafs="", sans=False)


@page(role=GESTIONNAIRE, every_caf=True)
async def create(request: Request) -> Response:
    form = await checked_form(request)
    login, role = str(form.get("login", "")).strip()[:200], _role(form)
    perimeters = _perimeters(form)
    password, refusal = _password(form)
    values = {
        "login": login,
        "role": role,
        "national": NATIONAL in perimeters,
        "cna": CNA in perimeters,
        "cafs": str(form.get("cafs", "")),
        "sans": form.get("sans_mot_de_passe") == "oui",
    }
    saved = None
    if refusal is None:
        try:
            saved = await run_in_threadpool(
                accounts.create_account, engine_of(request), login, role, password, perimeters
            )
        except OperatorError as e:
            refusal = str(e)
    if saved is None:
        await run_in_threadpool(
            _audit, request, AJOUT, "REFUSE", _target(login or "?"), f"création refusée : {refusal}"
        )
        return _form_page(request, 422, f"Compte refusé : {refusal}.", **values)
    how = "mot de passe enregistré" if saved.password else "sans mot de passe (connexion OpenID Connect ou mandataire)"
    seen = accounts.perimeter_text(saved.perimeter)
    await run_in_threadpool(
        _audit, request, AJOUT, "OK", _target(saved.login), f"création : rôle {saved.role}, périmètre {seen}, {how}"
    )
    flash(request, "success", f"Opérateur « {saved.login} » créé : rôle {saved.role}, périmètre {seen}, {how}.")
    return redirect(request, _account_path(saved.login))


def _account_or_404(request: Request, login: str) -> dict[str, Any]:
    found = accounts.get_account(engine_of(request), login)
    if found is None:
        raise HTTPException(404)
    return found


@page(role=GESTIONNAIRE, every_caf=True)
def account(request: Request) -> Response:
    found = _account_or_404(request, request.query_params.get("login", ""))
    names = accounts.caf_names()
    cafs = " ".join(v for v in found["perimetre"] if v not in (NATIONAL, CNA))
    return render(
        request,
        "operator.html",
        nav="operators",
        account=found,
        roles=ROLE_TEXT,
        perimetre_texte=accounts.perimeter_text(found["perimetre"], names),
        cafs=cafs,
        self_account=found["login"] == request.state.operator["login"],
        href=_account_path(found["login"]),
    )


@page(role=GESTIONNAIRE, every_caf=True)
def remove_confirm(request: Request) -> Response:
    found = _account_or_404(request, request.query_params.get("login", ""))
    return render(request, "operator_remove.html", nav="operators", account=found, href=_account_path(found["login"]))


# -- actions ----------------------------------------------------------------------------------------


async def _acting(request: Request) -> tuple[FormData, str, str]:  # the form, the login acted on, by whom
    form = await checked_form(request)
    login = str(form.get("login", "")).strip()
    if not login:
        raise HTTPException(400, "Aucun opérateur désigné.")
    return form, login, request.state.operator["login"]


async def _refused(request: Request, action: str, login: str, what: str, e: Exception, back: str) -> Response:
    await run_in_threadpool(_audit, request, action, "REFUSE", _target(login), f"{what} refusée : {e}")
    flash(request, "error", f"{what[0].upper()}{what[1:]} refusée : {e}.")
    return redirect(request, back)


@page(role=GESTIONNAIRE, every_caf=True)
async def change_access(request: Request) -> Response:
    form, login, by = await _acting(request)
    role, perimeters = _role(form), _perimeters(form)
    try:
        saved = await run_in_threadpool(accounts.change_access, engine_of(request), login, role, perimeters, by=by)
    except OperatorError as e:
        return await _refused(request, AJOUT, login, "modification de l'accès", e, _account_path(login))
    seen = accounts.perimeter_text(saved.perimeter)
    if not saved.sessions_ended:
        flash(request, "info", f"Opérateur « {login} » inchangé : il avait déjà le rôle {role} et le périmètre {seen}.")
        return redirect(request, _account_path(login))
    await run_in_threadpool(
        _audit,
        request,
        AJOUT,
        "OK",
        _target(login),
        f"accès modifié : rôle {saved.role}, périmètre {seen} ; sessions fermées",
    )
    if login == by:
        return _own_sessions_ended(request, f"Votre compte est modifié : rôle {saved.role}, périmètre {seen}.")
    flash(request, "success", f"Opérateur « {login} » modifié : rôle {saved.role}, périmètre {seen}.{_sessions(saved)}")
    return redirect(request, _account_path(login))


@page(role=GESTIONNAIRE, every_caf=True)
async def change_password(request: Request) -> Response:
    form, login, by = await _acting(request)
    password, refusal = _password(form)
    try:
        if refusal is not None:
            raise accounts.AccountError(refusal)
        saved = await run_in_threadpool(accounts.reset_password, engine_of(request), login, password, by=by)
    except OperatorError as e:
        return await _refused(request, AJOUT, login, "modification du mot de passe", e, _account_path(login))
    what = (
        "mot de passe réinitialisé"
        if saved.password
        else "mot de passe retiré (connexion OpenID Connect ou mandataire)"
    )
    await run_in_threadpool(_audit, request, AJOUT, "OK", _target(login), f"{what} ; sessions fermées")
    if login == by:
        return _own_sessions_ended(request, "Votre mot de passe est changé.")
    flash(request, "success", f"Opérateur « {login} » : {what}.{_sessions(saved)}")
    return redirect(request, _account_path(login))


@page(role=GESTIONNAIRE, every_caf=True)
async def change_state(request: Request) -> Response:
    form, login, by = await _acting(request)
    disable = form.get("etat") == "desactiver"
    action = DISABLE if disable else ENABLE
    try:
        done = await run_in_threadpool(accounts.set_state, engine_of(request), login, disable, by=by)
        if not done:
            raise accounts.AccountError(f"opérateur « {login} » inconnu")
    except OperatorError as e:
        return await _refused(
            request, action, login, "désactivation" if disable else "réactivation", e, _account_path(login)
        )
    text = (
        f"Opérateur « {login} » désactivé : ses sessions sont fermées, il ne peut plus se connecter."
        if disable
        else f"Opérateur « {login} » réactivé."
    )
    await run_in_threadpool(_audit, request, action, "OK", _target(login), text)
    flash(request, "success", text)
    return redirect(request, _account_path(login))


@page(role=GESTIONNAIRE, every_caf=True)
async def remove(request: Request) -> Response:
    form, login, by = await _acting(request)
    try:
        done = await run_in_threadpool(accounts.remove_account, engine_of(request), login, by=by)
        if not done:
            raise accounts.AccountError(f"opérateur « {login} » inconnu")
    except OperatorError as e:
        return await _refused(request, REMOVE, login, "suppression", e, _account_path(login))
    text = f"Opérateur « {login} » supprimé (le journal garde ses actions)."
    await run_in_threadpool(_audit, request, REMOVE, "OK", _target(login), text)
    flash(request, "success", text)
    return redirect(request, "/operateurs")
