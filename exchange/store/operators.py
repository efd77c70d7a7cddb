"""Console operator accounts (argon2id passwords, roles, perimeters, disabling) and the audit log: the store verbs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from exchange.core.clock import as_utc
from exchange.core.logins import login_refusal
from exchange.core.perimeter import CNA, NATIONAL, Perimeter
from exchange.errors import TerminalError
from exchange.store.ledger import utcnow
from exchange.store.tables import api_tokens, audit_log, files, operator_perimeters, operators, web_sessions

ROLES = ("lecteur", "gestionnaire")


class OperatorError(TerminalError):
    """A refused account change (French message)."""


def _hasher() -> Any:  # an argon2.PasswordHasher
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID)


def hash_password(password: str) -> str:
    hashed: str = _hasher().hash(password)
    return hashed


def checked_perimeters(values: list[str] | tuple[str, ...]) -> list[str]:
    """The `--perimetre` values, each `national`, `cna` or a Caf code of schemas/reference/caf.csv; refused
    (OperatorError, in French) otherwise."""
    from schemas.reference import load_reference

    known = {c.code for c in load_reference().cafs}
    wanted = []
    for value in values:
        value = value.strip().lower() if value.strip().lower() in (NATIONAL, CNA) else value.strip().upper()
        if value not in (NATIONAL, CNA) and value not in known:
            raise OperatorError(
                f"périmètre inconnu {value!r} : « national », « cna » ou le code d'une Caf (01 à 95, 2A, 2B, 971 à 976)"
            )
        if value not in wanted:
            wanted.append(value)
    return wanted


def checked_login(login: str) -> str:
    """The login without surrounding spaces; OperatorError when it is outside the documented character set
    (exchange.core.logins)."""
    login = login.strip()
    refusal = login_refusal(login)
    if refusal:
        raise OperatorError(refusal)
    return login


def _refuse_case_twin(conn: Connection, login: str) -> None:
    """OperatorError when another account has this login in other case (`NAT` when `nat` exists)."""
    twin = conn.execute(
        select(operators.c.login).where(func.lower(operators.c.login) == login.lower(), operators.c.login != login)
    ).scalar_one_or_none()
    if twin is not None:
        raise OperatorError(
            f"l'identifiant « {login} » désigne le compte existant « {twin} » (majuscules et minuscules ne "
            "distinguent pas deux comptes)"
        )


def add_operator(
    conn: Connection, login: str, role: str, password: str | None, perimeters: list[str] | tuple[str, ...] | None = None
) -> bool:
    """Create the account, or change its role and password when it exists; True when created. `perimeters`
    (national, cna, Caf codes) replaces the account's perimeter; None keeps it (none for a new account: it
    sees nothing). A change of role or perimeter ends the account's sessions."""
    wanted = checked_perimeters(perimeters) if perimeters is not None else None
    if role not in ROLES:
        raise OperatorError(f"rôle inconnu {role!r} : « lecteur » ou « gestionnaire »")
    login = checked_login(login)
    if password is not None and len(password) < 12:
        raise OperatorError("mot de passe trop court : 12 caractères au moins")
    digest = hash_password(password) if password is not None else None
    exists = conn.execute(select(operators.c.login).where(operators.c.login == login)).first()
    if not exists:
        _refuse_case_twin(conn, login)
    if exists:
        conn.execute(update(operators).where(operators.c.login == login).values(role=role, password_hash=digest))
    else:
        conn.execute(insert(operators).values(login=login, role=role, password_hash=digest, created_at=utcnow()))
    if wanted is not None:
        conn.execute(delete(operator_perimeters).where(operator_perimeters.c.login == login))
        if wanted:
            conn.execute(insert(operator_perimeters), [{"login": login, "perimetre": v} for v in wanted])
    end_sessions(conn, login)
    return not exists


def sync_operator(
    conn: Connection, issuer: str, subject: str, login: str, role: str, perimeters: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """An account as the identity provider describes it (single sign-on), found by the provider's `issuer` and the
    person's `subject` (`sub`), never by a name: created without a password under `login` the first time, then its
    role and perimeter brought in line (ending its sessions when they change; a password it has is kept). Refused
    (OperatorError) for an unknown role or perimeter, a login that is not valid, or a login already taken by an
    account not bound to this person (a local account is never taken over); returns the account."""
    wanted = checked_perimeters(perimeters)
    if role not in ROLES:
        raise OperatorError(f"rôle inconnu {role!r} : « lecteur » ou « gestionnaire »")
    if not issuer or not subject or len(issuer) > 500 or len(subject) > 255:
        raise OperatorError("le fournisseur d'identité n'a pas transmis d'identifiant de personne (« sub ») valide")
    bound = conn.execute(
        select(operators.c.login, operators.c.role).where(
            operators.c.oidc_issuer == issuer, operators.c.oidc_subject == subject
        )
    ).first()
    if bound is None:
        login = checked_login(login)
        taken = conn.execute(
            select(operators.c.login).where(func.lower(operators.c.login) == login.lower())
        ).scalar_one_or_none()
        if taken is not None:
            raise OperatorError(
                f"le compte « {taken} » existe déjà dans la console sans être lié à cette personne du fournisseur "
                "d'identité : il n'est pas repris (un gestionnaire national peut le supprimer pour qu'il soit "
                "recréé à la prochaine connexion)"
            )
        conn.execute(
            insert(operators).values(
                login=login,
                role=role,
                password_hash=None,
                created_at=utcnow(),
                oidc_issuer=issuer,
                oidc_subject=subject,
            )
        )
    else:
        login = bound.login
    if bound is None or bound.role != role or sorted(_perimeter_values(conn, login)) != sorted(wanted):
        conn.execute(update(operators).where(operators.c.login == login).values(role=role))
        conn.execute(delete(operator_perimeters).where(operator_perimeters.c.login == login))
        if wanted:
            conn.execute(insert(operator_perimeters), [{"login": login, "perimetre": v} for v in wanted])
        end_sessions(conn, login)
    written = get_operator(conn, login)
    assert written is not None  # just written, in this transaction
    return written


def change_access(conn: Connection, login: str, role: str, perimeters: list[str] | tuple[str, ...]) -> bool | None:
    """Give an existing account this role and perimeter (checked), keeping its password; None when there is no such
    account, else whether anything changed (then its sessions are ended)."""
    wanted = checked_perimeters(perimeters)
    if role not in ROLES:
        raise OperatorError(f"rôle inconnu {role!r} : « lecteur » ou « gestionnaire »")
    row = conn.execute(select(operators.c.role).where(operators.c.login == login)).first()
    if row is None:
        return None
    if row.role == role and sorted(_perimeter_values(conn, login)) == sorted(wanted):
        return False
    conn.execute(update(operators).where(operators.c.login == login).values(role=role))
    conn.execute(delete(operator_perimeters).where(operator_perimeters.c.login == login))
    if wanted:
        conn.execute(insert(operator_perimeters), [{"login": login, "perimetre": v} for v in wanted])
    end_sessions(conn, login)
    return True


def set_password(conn: Connection, login: str, password: str | None) -> bool:
    """A new password (argon2id), or none (single sign-on or proxy only); the account's sessions end. False when
    there is no such account."""
    if password is not None and len(password) < 12:
        raise OperatorError("mot de passe trop court : 12 caractères au moins")
    digest = hash_password(password) if password is not None else None
    moved = conn.execute(update(operators).where(operators.c.login == login).values(password_hash=digest)).rowcount
    if moved:
        end_sessions(conn, login)
    return moved > 0


def last_seen(conn: Connection) -> dict[str, object]:
    """Each login's latest use of an open console session (sessions end at logout, when idle, on a change)."""
    rows = conn.execute(
        select(web_sessions.c.login, func.max(web_sessions.c.seen_at))
        .where(web_sessions.c.login.is_not(None))
        .group_by(web_sessions.c.login)
    ).all()
    return {login: as_utc(seen) for login, seen in rows}


def end_sessions(conn: Connection, login: str) -> int:
    """End every console session of `login`, on every node (they read the same table); how many ended."""
    return conn.execute(delete(web_sessions).where(web_sessions.c.login == login)).rowcount


def _perimeter_values(conn: Connection, login: str) -> list[str]:
    return [
        v
        for (v,) in conn.execute(
            select(operator_perimeters.c.perimetre)
            .where(operator_perimeters.c.login == login)
            .order_by(operator_perimeters.c.perimetre)
        )
    ]


def get_operator(conn: Connection, login: str) -> dict[str, Any] | None:
    """The account with its `perimetre` (an exchange.core.perimeter.Perimeter), None when there is none."""
    row = conn.execute(select(operators).where(operators.c.login == login)).mappings().first()
    values = _perimeter_values(conn, login) if row else []
    return {**dict(row), "perimetre": Perimeter.of(values)} if row else None


def list_operators(conn: Connection) -> list[dict[str, Any]]:
    """Every account by login: login, role, perimetre (labels), password (bool), cree_le, desactive_le."""
    rows = conn.execute(select(operators).order_by(operators.c.login)).mappings().all()
    per: dict[str, list[str]] = {}
    for login, value in conn.execute(select(operator_perimeters.c.login, operator_perimeters.c.perimetre)):
        per.setdefault(login, []).append(value)
    return [
        {
            "login": r["login"],
            "role": r["role"],
            "perimetre": Perimeter.of(per.get(r["login"], [])).labels(),
            "mot_de_passe": r["password_hash"] is not None,
            "cree_le": as_utc(r["created_at"]),
            "desactive_le": r["disabled_at"],
        }
        for r in rows
    ]


def set_disabled(conn: Connection, login: str, disabled: bool) -> bool:
    """Disable (ending its sessions) or enable the account; False when there is no such account."""
    moved = conn.execute(
        update(operators).where(operators.c.login == login).values(disabled_at=utcnow() if disabled else None)
    ).rowcount
    if disabled:
        end_sessions(conn, login)
    return moved > 0


def remove_operator(conn: Connection, login: str) -> bool:
    """Delete the account, its perimeter, its sessions and its API tokens; the journal keeps its lines. False when
    unknown."""
    end_sessions(conn, login)
    conn.execute(delete(api_tokens).where(api_tokens.c.login == login))  # a login made again never revives them
    conn.execute(delete(operator_perimeters).where(operator_perimeters.c.login == login))
    return conn.execute(delete(operators).where(operators.c.login == login)).rowcount > 0


def check_password(conn: Connection, login: str, password: str) -> dict[str, Any] | None:
    """The operator when the password matches its argon2id hash, else None (same cost either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    row = get_operator(conn, login)
    hasher = _hasher()
    if row is None or not row["password_hash"] or row["disabled_at"] is not None:
        hasher.hash(password)  # do the work anyway: no timing hint that the login exists
        return None
    try:
        hasher.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return row


def record_audit(
    conn: Connection,
    login: str,
    action: str,
    outcome: str,
    target: str | None = None,
    detail: str | None = None,
    address: str | None = None,
    *,
    siret: str | None = None,
    file_id: int | None = None,
) -> None:
    """Write one audit line (who, when, what, on what, outcome; the Esat and the file concerned, if any)."""
    from exchange.logs import scrub

    if file_id is not None and siret is None:  # the file's Esat, so the journal filters by Esat and perimeter
        siret = conn.execute(select(files.c.siret).where(files.c.id == file_id)).scalar()
    # a login field typed as a NIR would otherwise be shown whole on the audit page
    conn.execute(
        insert(audit_log).values(
            at=utcnow(),
            login=scrub(login)[:200],
            action=action,
            target=target[:300] if target else None,
            outcome=outcome,
            detail=scrub(detail) if detail else None,
            address=address,
            siret=siret,
            file_id=file_id,
        )
    )
