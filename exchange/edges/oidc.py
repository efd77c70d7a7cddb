"""The institution's OpenID provider: discovery, the authorization request (Authorization Code + PKCE, state,
nonce), the code exchange and the ID token's checks (signature, issuer, audience, expiry, nonce)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from exchange.config import OidcConfig
from exchange.errors import TerminalError

TIMEOUT_SECONDS = 10


class OidcError(TerminalError):
    """The provider refused, or its answer failed a check (French message for the operator)."""


@dataclass(frozen=True)
class Provider:
    """What discovery told about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks: dict[str, Any]
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Pending:
    """One login under way, kept in the console session until the provider sends the browser back."""

    state: str
    nonce: str
    verifier: str


def discover(config: OidcConfig) -> Provider:
    """The provider's metadata and keys (`<issuer>/.well-known/openid-configuration`)."""
    import httpx  # only with [web.oidc]: authlib and httpx are needed for single sign-on alone

    try:
        meta = httpx.get(config.issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=TIMEOUT_SECONDS)
        meta.raise_for_status()
        data = meta.json()
        keys = httpx.get(data["jwks_uri"], timeout=TIMEOUT_SECONDS)
        keys.raise_for_status()
    except (httpx.HTTPError, ValueError, KeyError) as e:
        raise OidcError(f"fournisseur d'identité injoignable ou mal configuré ({config.issuer}) : {e}") from e
    if data.get("issuer") != config.issuer:
        raise OidcError(
            f"le fournisseur d'identité se présente comme {data.get('issuer')!r}, "
            f"pas comme {config.issuer!r} ([web.oidc] issuer)"
        )
    return Provider(
        data["issuer"],
        data["authorization_endpoint"],
        data["token_endpoint"],
        keys.json(),
        data.get("end_session_endpoint"),
    )


def start(config: OidcConfig, provider: Provider, redirect_uri: str) -> tuple[str, Pending]:
    """The provider's authorization URL to send the browser to, and what to keep until it comes back."""
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    pending = Pending(state=generate_token(32), nonce=generate_token(32), verifier=generate_token(64))
    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(config.scopes),
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": create_s256_code_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    return f"{provider.authorization_endpoint}?{urlencode(query)}", pending


def client_secret(config: OidcConfig) -> str:
    secret = os.environ.get(config.client_secret_env, "")
    if not secret:
        raise OidcError(
            f"secret du client OpenID absent : la variable d'environnement {config.client_secret_env} "
            "est vide ([web.oidc] client_secret_env)"
        )
    return secret


def finish(config: OidcConfig, provider: Provider, pending: Pending, code: str, redirect_uri: str) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) and return the checked ID token's claims."""
    import httpx

    try:
        answer = httpx.post(
            provider.token_endpoint,
            timeout=TIMEOUT_SECONDS,
            auth=(config.client_id, client_secret(config)),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier,
            },
        )
    except httpx.HTTPError as e:
        raise OidcError(f"fournisseur d'identité injoignable : {e}") from e
    if answer.status_code != 200:
        reason = (
            answer.json().get("error", "")
            if answer.headers.get("content-type", "").startswith("application/json")
            else ""
        )
        raise OidcError(
            f"le fournisseur d'identité refuse le code ({answer.status_code} {reason}) : code déjà "
            "utilisé, expiré ou émis pour un autre client"
        )
    id_token = answer.json().get("id_token")
    if not id_token:
        raise OidcError("le fournisseur d'identité n'a pas renvoyé de jeton d'identité (id_token)")
    return check_id_token(config, provider, id_token, pending.nonce, answer.json().get("access_token"))


def check_id_token(
    config: OidcConfig, provider: Provider, id_token: str, nonce: str, access_token: str | None = None
) -> dict[str, Any]:
    """The ID token's claims once its signature (the provider's keys), issuer, audience (this client), expiry,
    nonce, authorized party and access-token hash are checked."""
    from authlib.oauth2.rfc6749.errors import OAuth2Error
    from authlib.oidc.core import CodeIDToken
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        keys = KeySet.import_key_set(provider.jwks)  # type: ignore[arg-type]  # a JWKS as the provider serves it
        token = jwt.decode(id_token, keys)
        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": config.client_id},
            },
            params={
                "nonce": nonce,
                "client_id": config.client_id,
                **({"access_token": access_token} if access_token else {}),
            },
        )
        claims.validate(leeway=60)
    except (JoseError, OAuth2Error, ValueError) as e:
        raise OidcError(f"jeton d'identité refusé ({getattr(e, 'description', None) or e})") from e
    return dict(claims)


def logout_url(provider: Provider, config: OidcConfig, id_token_hint: str | None, after: str) -> str | None:
    """Where to send the browser to end the provider's session too (None when it has no such endpoint)."""
    if not provider.end_session_endpoint:
        return None
    query = {
        "client_id": config.client_id,
        "post_logout_redirect_uri": after,
        **({"id_token_hint": id_token_hint} if id_token_hint else {}),
    }
    return f"{provider.end_session_endpoint}?{urlencode(query)}"
