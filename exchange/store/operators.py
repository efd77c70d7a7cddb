"""Console operator accounts (argon2id passwords, roles) and the audit log: the store verbs."""
from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from exchange.errors import TerminalError
from exchange.store.tables import audit_log, operators
from exchange.store.ledger import utcnow

ROLES = ("lecteur", "gestionnaire")


class OperatorError(TerminalError, ValueError):
    """A refused account change (French message)."""


def _hasher():  # noqa: ANN202 - argon2.PasswordHasher
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def add_operator(engine: Engine, login: str, role: str, password: str | None) -> bool:
    """Create the account, or change its role and password when it exists; True when created."""
    if role not in ROLES:
        raise OperatorError(f"rôle inconnu {role!r} : « lecteur » ou « gestionnaire »")
    login = login.strip()
    if not login or len(login) > 200 or any(c.isspace() for c in login):
        raise OperatorError("identifiant invalide : de 1 à 200 caractères, sans espace")
    if password is not None and len(password) < 12:
        raise OperatorError("mot de passe trop court : 12 caractères au moins")
    digest = hash_password(password) if password is not None else None
    with engine.begin() as conn:
        exists = conn.execute(select(operators.c.login).where(operators.c.login == login)).first()
        if exists:
            conn.execute(update(operators).where(operators.c.login == login).values(role=role, password_hash=digest))
            return False
        conn.execute(insert(operators).values(login=login, role=role, password_hash=digest, created_at=utcnow()))
        return True


def get_operator(engine: Engine, login: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(select(operators).where(operators.c.login == login)).mappings().first()
    return dict(row) if row else None


def check_password(engine: Engine, login: str, password: str) -> dict | None:
    """The operator when the password matches its argon2id hash, else None (same cost either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    row = get_operator(engine, login)
    hasher = _hasher()
    if row is None or not row["password_hash"]:
        hasher.hash(password)  # do the work anyway: no timing hint that the login exists
        return None
    try:
        hasher.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return row


def record_audit(engine: Engine, login: str, action: str, outcome: str, target: str | None = None,
                 detail: str | None = None, address: str | None = None) -> None:
    """Write one audit line (who, when, what, on what, outcome)."""
    from exchange.logs import scrub

    with engine.begin() as conn:
        # a login field typed as a NIR would otherwise be shown whole on the audit page
        conn.execute(insert(audit_log).values(at=utcnow(), login=scrub(login)[:200], action=action, target=target,
                                              outcome=outcome, detail=scrub(detail) if detail else None,
                                              address=address))
