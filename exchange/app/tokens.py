"""API tokens, the use cases the command line (`operators token …`) and the console (« Jetons d'API ») share: an
operator's tokens, a new one (its secret shown once), revoke one. A token acts as its operator (exchange.web.api)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.store import api_tokens
from exchange.store.engine import Engine, in_transaction
from exchange.store.operators import OperatorError, get_operator, record_audit


@dataclass(frozen=True)
class NewToken:
    """A token just created: its number and its secret (shown this once; only its SHA-256 is kept)."""

    id: int
    secret: str
    name: str


def tokens_of(engine: Engine, login: str | None = None) -> list[dict[str, Any]]:
    """`login`'s tokens (every account's when None), newest first: id, login, nom, debut, cree_le, utilise_le,
    revoque_le."""
    return in_transaction(engine, api_tokens.list_tokens, login)


def create_token(
    engine: Engine, login: str, name: str, *, by: str | None = None, address: str | None = None
) -> NewToken:
    """A new token for `login` (OperatorError when there is no such account or the name is empty or too long);
    journaled when `by` (an operator of the console) acts; the command line journals its own commands."""
    with engine.begin() as conn:
        if get_operator(conn, login) is None:
            raise OperatorError(f"aucun compte « {login} »")
        token_id, secret = api_tokens.create_token(conn, login, name)
        if by is not None:
            record_audit(conn, by, "jeton_creation", "OK", f"jeton n° {token_id} de {login}", name, address)
    return NewToken(token_id, secret, " ".join(name.split()))


def revoke_token(
    engine: Engine, login: str, token_id: int, *, by: str | None = None, address: str | None = None
) -> bool:
    """Revoke `login`'s live token `token_id`: 401 at its next use. False when it has no such live token."""
    done = in_transaction(engine, api_tokens.revoke_token, login, token_id)
    if by is not None:
        in_transaction(
            engine,
            record_audit,
            by,
            "jeton_revocation",
            "OK" if done else "REFUSE",
            f"jeton n° {token_id} de {login}",
            None if done else "aucun jeton actif de ce numéro",
            address,
        )
    return done


__all__ = ["NewToken", "create_token", "revoke_token", "tokens_of"]
