"""Console accounts, the use cases the command line (`operators …`) and the console (`/operateurs`) share: list,
create or change, reset a password, disable, enable, remove.

The rules: a role is `lecteur` or `gestionnaire`; a perimeter is `national`, `cna` or a Caf code
(store.operators.checked_perimeters, the same French refusal everywhere); a password has 12 characters at least,
or there is none (single sign-on or the proxy's header only); a change of role, perimeter or password and a
disable end the account's sessions. When an operator acts from the console (`by`, its login), two more rules
hold: nobody disables, removes, demotes or narrows their own account (nor removes their own password), and no
change may leave the console without an active national gestionnaire. The command line is the system
administrator's tool (`by` is None): it creates the first account and repairs a locked console, so these two
rules do not bind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exchange.config import WebConfig
from exchange.core.clock import as_utc
from exchange.core.perimeter import Perimeter
from exchange.core.throttle import delay_seconds, retry_at
from exchange.store import operators as store
from exchange.store import throttle
from exchange.store.engine import Engine, in_transaction
from exchange.store.operators import ROLES, OperatorError
from schemas.reference import load_reference

GESTIONNAIRE = "gestionnaire"
__all__ = [
    "ROLES",
    "AccountError",
    "Saved",
    "caf_names",
    "change_access",
    "create_account",
    "get_account",
    "LoginOutcome",
    "log_in",
    "list_accounts",
    "perimeter_text",
    "remove_account",
    "reset_password",
    "save_account",
    "set_state",
]


class AccountError(OperatorError):
    """A refused account change (French message, without the final full stop)."""


@dataclass(frozen=True)
class Saved:
    """An account just created or changed."""

    login: str
    created: bool
    role: str
    perimeter: list[str]  # labels: national, cna, Caf codes
    password: bool  # has a password (else single sign-on or proxy only)
    sessions_ended: bool  # its open sessions were ended by this change


def caf_names() -> dict[str, str]:
    """Caf code → name (schemas/reference/caf.csv), for showing a perimeter."""
    return {c.code: c.name for c in load_reference().cafs}


def perimeter_text(labels: list[str], names: dict[str, str] | None = None) -> str:
    """A perimeter as an operator reads it: « national », « cna, 75 (Caf Paris) »…; « aucun » when empty."""
    names = caf_names() if names is None else names
    return ", ".join(f"{v} ({names[v]})" if v in names else v for v in labels) or "aucun"


def list_accounts(engine: Engine, *, activity: bool = False) -> list[dict[str, Any]]:
    """Every account by login: login, role, perimetre (labels), mot_de_passe (bool), cree_le, desactive_le and,
    with `activity`, derniere_activite (the latest use of an open session, None without one)."""
    rows = in_transaction(engine, store.list_operators)
    for r in rows:
        r["desactive_le"] = as_utc(r["desactive_le"]) if r["desactive_le"] is not None else None
    if activity:
        seen = in_transaction(engine, store.last_seen)
        for r in rows:
            r["derniere_activite"] = seen.get(r["login"])
    return rows


def get_account(engine: Engine, login: str) -> dict[str, Any] | None:
    """One account as list_accounts shows it (with its activity), None when there is none."""
    return next((r for r in list_accounts(engine, activity=True) if r["login"] == login), None)


def _national_gestionnaire(role: str, labels: list[str] | tuple[str, ...], active: bool) -> bool:
    return active and role == GESTIONNAIRE and Perimeter.of(list(labels)).national


def _guard(
    engine: Engine,
    login: str,
    by: str | None,
    *,
    role: str | None = None,
    perimeters: list[str] | None = None,
    active: bool | None = None,
    what: str,
) -> dict[str, Any]:
    """The account (AccountError when unknown) once the console's two rules allow the change: `role`,
    `perimeters` and `active` describe the account after it (None: unchanged; `active` False for a disable or a
    removal)."""
    accounts = list_accounts(engine)
    current = next((r for r in accounts if r["login"] == login), None)
    if current is None:
        raise AccountError(f"opérateur « {login} » inconnu")
    if by is None:
        return current
    role = current["role"] if role is None else role
    labels = current["perimetre"] if perimeters is None else perimeters
    active = current["desactive_le"] is None if active is None else active
    stays = _national_gestionnaire(role, labels, active)
    if login == by and not stays:
        raise AccountError(
            f"vous ne pouvez pas {what} votre propre compte depuis la console : un autre "
            "gestionnaire national doit le faire"
        )
    others = [
        r["login"]
        for r in accounts
        if r["login"] != login and _national_gestionnaire(r["role"], r["perimetre"], r["desactive_le"] is None)
    ]
    if not others and not stays:
        raise AccountError(
            "il ne resterait aucun gestionnaire national actif : la console ne pourrait plus gérer les comptes"
        )
    return current


def save_account(
    engine: Engine, login: str, role: str, password: str | None, perimeters: list[str] | tuple[str, ...] | None
) -> Saved:
    """`operators add`: create the account, or give an existing one this role and password (None: none) and, when
    `perimeters` is not None, this perimeter; its sessions end when it existed. OperatorError when refused."""
    created = in_transaction(engine, store.add_operator, login, role, password, perimeters)
    login = login.strip()
    found = in_transaction(engine, store.get_operator, login)
    labels = found["perimetre"].labels() if found else []
    return Saved(login, created, role, labels, password is not None, not created)


def create_account(engine: Engine, login: str, role: str, password: str | None, perimeters: list[str]) -> Saved:
    """A new account (refused when the login exists: an existing account is changed, not created again)."""
    if in_transaction(engine, store.get_operator, login.strip()) is not None:
        raise AccountError(f"l'opérateur « {login.strip()} » existe déjà : modifiez-le depuis sa fiche")
    return save_account(engine, login, role, password, perimeters)


def change_access(engine: Engine, login: str, role: str, perimeters: list[str], *, by: str | None = None) -> Saved:
    """Give an existing account this role and perimeter, keeping its password; its sessions end when anything
    changed (Saved.sessions_ended)."""
    wanted = store.checked_perimeters(perimeters)
    if role not in ROLES:
        raise AccountError(f"rôle inconnu {role!r} : « lecteur » ou « gestionnaire »")
    what = "rétrograder" if role != GESTIONNAIRE else "restreindre le périmètre de"
    current = _guard(engine, login, by, role=role, perimeters=wanted, what=what)
    changed = in_transaction(engine, store.change_access, login, role, wanted)
    if changed is None:
        raise AccountError(f"opérateur « {login} » inconnu")
    return Saved(login, False, role, Perimeter.of(wanted).labels(), current["mot_de_passe"], changed)


def reset_password(engine: Engine, login: str, password: str | None, *, by: str | None = None) -> Saved:
    """A new password, or none (single sign-on or proxy only); the account's sessions end."""
    current = _guard(engine, login, by, what="modifier")
    if password is None and login == by:
        raise AccountError("vous ne pouvez pas retirer le mot de passe de votre propre compte depuis la console")
    if not in_transaction(engine, store.set_password, login, password):
        raise AccountError(f"opérateur « {login} » inconnu")
    return Saved(login, False, current["role"], current["perimetre"], password is not None, True)


def set_state(engine: Engine, login: str, disabled: bool, *, by: str | None = None) -> bool:
    """Disable (its sessions end at once, no login until enabled) or enable; False when there is no such account
    (the command line's answer); AccountError when a console rule refuses."""
    if by is not None:
        _guard(engine, login, by, active=not disabled, what="désactiver")
    return in_transaction(engine, store.set_disabled, login, disabled)


def remove_account(engine: Engine, login: str, *, by: str | None = None) -> bool:
    """Delete the account, its perimeter and its sessions (the journal keeps its lines); False when unknown."""
    if by is not None:
        _guard(engine, login, by, active=False, what="supprimer")
    return in_transaction(engine, store.remove_operator, login)


@dataclass(frozen=True)
class LoginOutcome:
    """A login attempt's answer: the operator (logged in), or a refusal (wrong, or too early after failures)."""

    operator: dict[str, Any] | None  # the account when the password matched
    failures: int  # failed attempts for this login from this address, this one included when wrong
    too_early: bool  # refused without checking the password: the throttle's delay has not passed
    allowed_at: datetime  # too early: when the next attempt is allowed
    wait_seconds: float  # wrong password: how long the next attempt must wait (0: none)


def log_in(engine: Engine, web: WebConfig, login: str, password: str, address: str, now: datetime) -> LoginOutcome:
    """Check a console login and its throttle (core.throttle's rule, per login and client address), and journal
    it. The attempt is counted BEFORE the password is checked, in one guarded increment: parallel attempts
    cannot all pass the check and count afterwards. A success forgets the count."""

    def allowed_after(failures: int, last: datetime) -> datetime:
        return retry_at(failures, last, web.login_attempts, web.login_max_delay_seconds)

    since = now - timedelta(seconds=web.login_window_seconds)
    attempt = in_transaction(engine, throttle.count_attempt, login, address, now, since, allowed_after)

    def refused(detail: str) -> None:
        in_transaction(engine, store.record_audit, login or "?", "connexion", "REFUSE", None, detail, address)

    if not attempt.counted:
        refused(f"trop tôt après {attempt.failures} échecs")
        return LoginOutcome(None, attempt.failures, True, attempt.allowed_at, 0.0)
    found = in_transaction(engine, store.check_password, login, password) if login else None
    if found is None:
        failures = attempt.failures + 1
        refused("identifiant ou mot de passe incorrect")
        wait = delay_seconds(failures, web.login_attempts, web.login_max_delay_seconds)
        return LoginOutcome(None, failures, False, now + timedelta(seconds=wait), wait)
    with engine.begin() as conn:
        throttle.clear(conn, login, address)
        store.record_audit(conn, found["login"], "connexion", "OK", None, f"rôle {found['role']}", address)
    return LoginOutcome(found, 0, False, now, 0.0)
