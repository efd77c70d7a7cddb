"""What a console login may be: a documented character set, so that no login reads like another or like a
command-line actor in the journal (`cli:root`, `nat\u200b`), and logins that differ only by case are one."""

from __future__ import annotations

import re

LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
LOGIN_RULE = (
    "de 1 à 100 caractères parmi les lettres sans accent, les chiffres, « . », « _ », « - » et « @ », "
    "commençant par une lettre ou un chiffre"
)


def login_refusal(login: str) -> str | None:
    """Why `login` is not a valid console login (French, without the final full stop), None when it is."""
    if not LOGIN.fullmatch(login):
        return f"identifiant invalide {login!r} : {LOGIN_RULE}"
    return None


def same_login(a: str, b: str) -> bool:
    """Two logins name one account when they differ only by case."""
    return a.casefold() == b.casefold()


__all__ = ["LOGIN", "LOGIN_RULE", "login_refusal", "same_login"]
