"""A system error's cause in French, for the one line a command prints (never the C library's English)."""

from __future__ import annotations

import errno

REASONS = {
    errno.ENOENT: "dossier ou fichier introuvable",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota du disque atteint",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.EEXIST: "existe déjà",
    errno.EISDIR: "c'est un dossier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
}


def os_reason(error: OSError) -> str:
    """« disque plein », « permission refusée »…, or the error number when it is not one of these."""
    return REASONS.get(error.errno or 0, f"erreur système {error.errno}")
