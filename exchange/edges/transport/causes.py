"""Why the drop area failed, in French: what an operator reads instead of a network library's English."""

from __future__ import annotations

import errno
import socket
import sys

_ERRNO = {
    errno.ECONNREFUSED: "connexion refusée (aucun serveur n'écoute à cette adresse)",
    errno.ECONNRESET: "connexion coupée par le serveur",
    errno.ECONNABORTED: "connexion interrompue",
    errno.EHOSTUNREACH: "machine injoignable (pas de route)",
    errno.ENETUNREACH: "réseau injoignable",
    errno.ETIMEDOUT: "délai dépassé sans réponse",
    errno.EPIPE: "connexion coupée pendant l'envoi",
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EDQUOT: "quota disque dépassé",
    errno.ENOTDIR: "n'est pas un dossier",
    errno.EISDIR: "est un dossier",
    errno.EEXIST: "existe déjà",
    errno.ELOOP: "lien symbolique refusé",
}


def french_cause(error: BaseException | None, timeout: float | None = None) -> str:
    """One French phrase for a network or file-system failure (paramiko, socket, OSError); never the library's
    English message, whose words an operator cannot act on."""
    if error is None:
        return "cause inconnue"
    if (ssh := _ssh_cause(error, timeout)) is not None:
        return ssh
    if isinstance(error, socket.gaierror):
        return "nom de machine inconnu (DNS)"
    if isinstance(error, (socket.timeout, TimeoutError)):
        after = f" de {timeout:g} s" if timeout else ""
        return f"le serveur ne répond pas (délai{after} dépassé)"
    if isinstance(error, EOFError):
        return "connexion fermée par le serveur"
    if isinstance(error, OSError):
        known = _ERRNO.get(error.errno) if error.errno is not None else None
        if known:
            return known
        if isinstance(error, ConnectionError):
            return "connexion rompue"
        return f"erreur d'entrée-sortie (code {error.errno})" if error.errno else "erreur d'entrée-sortie"
    return "erreur inattendue"


def _ssh_cause(error: BaseException, timeout: float | None) -> str | None:
    """The phrase for one of paramiko's own errors, None for any other. paramiko is looked up, not imported: an
    error of paramiko's exists only where paramiko was imported, and a process on a local drop area (a `run`, a
    CLI command) does not pay its import (about 0.3 s)."""
    paramiko = sys.modules.get("paramiko")
    if paramiko is None:
        return None
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return _ERRNO[errno.ECONNREFUSED]
    if isinstance(error, paramiko.AuthenticationException):
        return "authentification refusée"
    if isinstance(error, paramiko.SSHException):
        if "banner" in str(error).lower():
            after = f" en {timeout:g} s" if timeout else ""
            return f"le serveur n'a pas répondu au protocole SSH{after}"
        return "erreur du protocole SSH (connexion rompue ou refusée)"
    return None


__all__ = ["french_cause"]
