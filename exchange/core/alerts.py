"""Which alerts are due (a failed or missed nightly, a file in quarantine, collects failing in a row), each with a
key so it is sent once, each saying who acts and what comes next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.core.clock import PARIS
from exchange.core.health import ADMIN, COLLECT_FAILURES_ALERT, NIGHTLY_MAX_AGE
from exchange.core.vocabulary import ECHEC
from schemas.fields import plural


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


def _caf_files_sentence(run: dict[str, Any]) -> str:
    """What the failed nightly left for the Cafs, checked against its own record (the files it wrote)."""
    written = len(run.get("fichiers_emis") or [])
    if written:
        return (
            f"Il a écrit {plural(written, 'fichier Caf', 'fichiers Caf')} avant d'échouer : ceux-là sont produits ; "
            "les fichiers restants le seront au prochain traitement de nuit réussi."
        )
    return "Aucun fichier Caf n'a été écrit par cette exécution : ils le seront au prochain traitement de nuit réussi."


def alerts_due(
    last_nightly: dict[str, Any] | None,
    quarantined: list[dict[str, Any]],
    now: datetime,
    failed_collects: list[dict[str, Any]] | None = None,
    last_success: dict[str, Any] | None = None,
) -> list[Alert]:
    """The alerts the service's state calls for: the last finished nightly failed, no nightly for 26 h (or
    never), each file in QUARANTAINE, COLLECT_FAILURES_ALERT collects failed in a row. `last_nightly`: the latest
    nightly that ended (OK or ECHEC); `failed_collects`: the collecting runs failed since the last one that
    succeeded, newest first; `last_success`: the latest nightly that ended OK (what the missed-nightly alert
    says about the Caf files). Each text says who acts and what comes next."""
    due = []
    if last_nightly is not None and last_nightly["statut"] == ECHEC:
        due.append(
            Alert(
                f"nightly-echec-{last_nightly['id']}",
                f"[esat-exchange] Traitement de nuit en échec (exécution n° {last_nightly['id']})",
                f"Le traitement de nuit du {_stamp(last_nightly['debut'])} (exécution n° {last_nightly['id']}) "
                f"a échoué : {last_nightly['erreur'] or 'cause non enregistrée'}. {_caf_files_sentence(last_nightly)} "
                f"Qui agit : {ADMIN}, qui lit le journal de l'exécution n° {last_nightly['id']} et corrige la "
                "cause ; le traitement de nuit suivant reprend là où celui-ci s'est arrêté.",
            )
        )
    if last_nightly is None or last_nightly["debut"] < now - NIGHTLY_MAX_AGE:
        since = f"depuis le {_stamp(last_nightly['debut'])}" if last_nightly else "depuis la mise en service"
        produced = (
            f"Les derniers fichiers Caf ont été écrits par le traitement de nuit du {_stamp(last_success['debut'])}"
            f" (exécution n° {last_success['id']}) ; aucun depuis."
            if last_success is not None
            else "Aucun fichier Caf n'a encore été produit."
        )
        due.append(
            Alert(
                f"nightly-manquant-{last_nightly['id'] if last_nightly else 0}",
                "[esat-exchange] Aucun traitement de nuit depuis plus de 26 h",
                f"Aucun traitement de nuit n'a eu lieu {since}. {produced} Qui agit : {ADMIN}, qui vérifie que "
                "le planificateur (esat-exchange scheduler) tourne et que la tâche « traitement de nuit » n'est pas "
                "suspendue.",
            )
        )
    for q in quarantined:
        due.append(
            Alert(
                f"quarantaine-{q['id']}",
                f"[esat-exchange] Fichier n° {q['id']} en quarantaine",
                f"Le fichier n° {q['id']} ({q['compte']}/{q['fichier']}) est en quarantaine depuis le "
                f"{_stamp(q['depuis'])} : le service n'a pas pu le juger ({q['erreur'] or 'cause non enregistrée'}). "
                f"Qui agit : {ADMIN} ; l'Esat n'a rien à faire. Voir « files show {q['id']} », corriger le défaut, "
                f"puis « files replay {q['id']} ».",
            )
        )
    failed = failed_collects or []
    if len(failed) >= COLLECT_FAILURES_ALERT:
        first = failed[-1]
        due.append(
            Alert(
                f"collectes-en-echec-{first['id']}",
                f"[esat-exchange] {len(failed)} collectes de suite en échec",
                f"Les {len(failed)} dernières exécutions qui collectent la zone de dépôt ont échoué, depuis le "
                f"{_stamp(first['debut'])} (exécution n° {first['id']}) ; la dernière (n° {failed[0]['id']}) : "
                f"{failed[0]['erreur'] or 'cause non enregistrée'}. Aucun fichier n'est collecté ni répondu "
                f"pendant ce temps ; les fichiers déposés attendent sans perte. Qui agit : {ADMIN}, qui rétablit "
                "l'accès à la zone de dépôt (serveur SFTP, réseau, clés).",
            )
        )
    return due
