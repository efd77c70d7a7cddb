"""Operators' API tokens (table `api_tokens`): create (the secret returned once, its SHA-256 kept), list, revoke,
and the operator a presented secret stands for."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from exchange.core.clock import as_utc
from exchange.store.ledger import utcnow
from exchange.store.operators import OperatorError, get_operator
from exchange.store.tables import api_tokens, operators

PREFIX = "esat_"  # every secret starts so: a leaked one is easy to find in a log or a repository
NAME_LONGEST = 100


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(conn: Connection, login: str, name: str) -> tuple[int, str]:
    """A new token for the existing account `login`: its id and its secret (shown once, never stored)."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_LONGEST:
        raise OperatorError(f"nom de jeton invalide : de 1 à {NAME_LONGEST} caractères")
    secret = PREFIX + secrets.token_urlsafe(32)
    if conn.execute(select(operators.c.login).where(operators.c.login == login)).first() is None:
        raise OperatorError(f"aucun compte « {login} »")
    key = conn.execute(
        insert(api_tokens).values(
            login=login, name=name, digest=digest_of(secret), hint=secret[: len(PREFIX) + 4], created_at=utcnow()
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0]), secret


def _view(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "login": row["login"],
        "nom": row["name"],
        "debut": row["hint"] + "…",
        "cree_le": as_utc(row["created_at"]),
        "utilise_le": as_utc(row["last_used_at"]) if row["last_used_at"] else None,
        "revoque_le": as_utc(row["revoked_at"]) if row["revoked_at"] else None,
    }


def list_tokens(conn: Connection, login: str | None = None) -> list[dict[str, Any]]:
    """The tokens of `login` (every account's when None), newest first, revoked ones included."""
    q = select(api_tokens).order_by(api_tokens.c.id.desc())
    if login is not None:
        q = q.where(api_tokens.c.login == login)
    return [_view(r) for r in conn.execute(q).mappings()]


def revoke_token(conn: Connection, login: str, token_id: int) -> bool:
    """Revoke `login`'s token `token_id` (a revoked token is 401 from now on); False when it has no such live token."""
    moved = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.login == login, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    return moved > 0


def operator_of_token(conn: Connection, secret: str) -> dict[str, Any] | None:
    """The active operator (exchange.store.operators.get_operator) whose live token `secret` is, with its token's id
    as `jeton`; None for an unknown or revoked token or a disabled or removed account. Marks the token used."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = conn.execute(
        select(api_tokens.c.id, api_tokens.c.login).where(
            api_tokens.c.digest == digest_of(secret), api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    found = get_operator(conn, row.login)
    if found is None or found["disabled_at"] is not None:
        return None
    conn.execute(update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=utcnow()))
    return {**found, "jeton": row.id}
