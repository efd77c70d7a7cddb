"""Which received file may be replayed (habilitations.md « Rejeu »), and why not, in French."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exchange.core.clock import PARIS, as_utc
from exchange.core.vocabulary import ACQUITTE, DOUBLON, QUARANTAINE, REJETE

REPLAYABLE_CODES = frozenset({"H01", "H02", "H03", "H04", "H05", "H06", "H07", "F06"})


def replay_refusal(row: dict[str, Any]) -> str | None:
    """Why this received file may not be replayed (French, for the CLI and the console), or None when it may.

    habilitations.md: replay is only for a file rejected whole for an `H` code or `F06` (once the Caf
    fixed the habilitation), or set aside in QUARANTAINE (once the defect is fixed).
    """
    if row["state"] == QUARANTAINE:
        return None
    if row.get("copies_purged_at") is not None:  # retention ([retention] copies): nothing left to read
        return (
            f"la copie du fichier n° {row['id']} a été supprimée à l'échéance de sa durée de conservation : "
            "il ne peut plus être rejoué"
        )
    if row["state"] != ACQUITTE:
        return f"le fichier n° {row['id']} est en cours de traitement (état {row['state']}) : attendez la fin du cycle"
    if row["statut"] == REJETE and row["code"] in REPLAYABLE_CODES:
        return None
    if row["statut"] == DOUBLON:
        return f"le fichier n° {row['id']} est un doublon du fichier n° {row['duplicate_of']} : il n'y a rien à rejouer"
    return (
        f"le fichier n° {row['id']} ({row['statut'] or 'sans statut'}"
        f"{' ' + row['code'] if row['code'] else ''}) ne peut pas être rejoué : seul un fichier rejeté en "
        "entier pour une habilitation (codes H01 à H07) ou pour F06, ou mis en quarantaine, peut l'être ; "
        "pour corriger des enregistrements, l'Esat envoie un nouveau fichier"
    )


def rejected_for_habilitation(row: dict[str, Any]) -> bool:
    """Rejected whole for an `H` code: the Caf's own data (Habpps) must be corrected, not the Esat's file."""
    return row["state"] == ACQUITTE and row["statut"] == REJETE and (row["code"] or "").startswith("H")


def stale_extract_refusal(row: dict[str, Any], last_import_at: datetime | None) -> str | None:
    """Why replaying this file now would only reject it again for the same `H` code (French), or None.

    A file rejected for a habilitation code is judged against the extract in force: until an extract is
    imported after its judgement, a replay sees the same habilitations and sends the Esat a second rejection.
    """
    if not rejected_for_habilitation(row):
        return None
    judged = as_utc(row["processed_at"])
    imported = as_utc(last_import_at)
    if imported is not None and (judged is None or imported > judged):
        return None
    when = f" le {judged.astimezone(PARIS).strftime('%d/%m/%Y à %H:%M')}" if judged is not None else ""
    return (
        f"le fichier n° {row['id']} a été rejeté pour {row['code']} (habilitation){when} et aucun extrait "
        "Habpps n'a été importé depuis : rejoué maintenant, il serait rejeté de nouveau pour la même raison. "
        "Importez d'abord l'extrait corrigé par la Caf, puis rejouez le fichier"
    )
