"""Which alerts are due (a failed or missed nightly, a file in quarantine), each with a key so it is sent once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.core.clock import PARIS
from exchange.core.health import NIGHTLY_MAX_AGE
from exchange.core.vocabulary import ECHEC


@dataclass(frozen=True)
class Alert:
    """One alert: `key` says what it is about (sent once per key), `subject` and `text` in French."""

    key: str
    subject: str
    text: str

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {"cle": self.key, "sujet": self.subject, "texte": self.text}


def _stamp(value: datetime) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def alerts_due(last_nightly: dict[str, Any] | None, quarantined: list[dict[str, Any]], now: datetime) -> list[Alert]:
    """The alerts the service's state calls for: the last finished nightly failed, no nightly for 26 h (or
    never), each file in QUARANTAINE. `last_nightly`: the latest nightly that ended (OK or ECHEC)."""
    due = []
    if last_nightly is not None and last_nightly["statut"] == ECHEC:
        due.append(
            Alert(
                f"nightly-echec-{last_nightly['id']}",
                f"[esat-exchange] Traitement de nuit en échec (exécution n° {last_nightly['id']})",
                f"Le traitement de nuit du {_stamp(last_nightly['debut'])} (exécution n° {last_nightly['id']}) "
                f"a échoué : {last_nightly['erreur'] or 'erreur inconnue'}. Les fichiers des Caf ne sont "
                "pas produits tant qu'un traitement de nuit ne réussit pas.",
            )
        )
    if last_nightly is None or last_nightly["debut"] < now - NIGHTLY_MAX_AGE:
        since = f"depuis le {_stamp(last_nightly['debut'])}" if last_nightly else "depuis la mise en service"
        due.append(
            Alert(
                f"nightly-manquant-{last_nightly['id'] if last_nightly else 0}",
                "[esat-exchange] Aucun traitement de nuit depuis plus de 26 h",
                f"Aucun traitement de nuit n'a eu lieu {since} : le planificateur tourne-t-il ? Les "
                "fichiers des Caf ne sont pas produits.",
            )
        )
    for q in quarantined:
        due.append(
            Alert(
                f"quarantaine-{q['id']}",
                f"[esat-exchange] Fichier n° {q['id']} en quarantaine",
                f"Le fichier n° {q['id']} ({q['compte']}/{q['fichier']}) est en quarantaine depuis le "
                f"{_stamp(q['depuis'])} : {q['erreur'] or 'erreur inconnue'}. Voir « files show "
                f"{q['id']} », puis « files replay {q['id']} » une fois le défaut corrigé.",
            )
        )
    return due
