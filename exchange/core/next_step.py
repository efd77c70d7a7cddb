"""What comes next for a received file, in French: what happened, who acts (the Esat, its Caf, the CNA, the national
team, the service's administrator) and what they do — shown on the file's page, never « personne » for a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.core.health import ADMIN, CAF, CNA, ESAT, NATIONAL
from exchange.core.vocabulary import ACQUITTE, CNA_CODE_CAF, DOUBLON, QUARANTAINE, REJETE


@dataclass(frozen=True)
class NextStep:
    """`who` acts (one of exchange.core.health's actors, or « le service »), `what` they do; `national_step`: the
    step only a national gestionnaire takes in the console (importing the corrected extract), else None."""

    who: str
    what: str
    national_step: str | None = None


def caf_label(caf: str | None) -> str:
    """« la CNA » for code 78, « la Caf 75 », or « la Caf » when the extract does not know the Esat."""
    if caf == CNA_CODE_CAF:
        return CNA
    return f"la Caf {caf}" if caf else CAF


def next_step(view: dict[str, Any], caf: str | None) -> NextStep | None:
    """What comes next for a file (`view`: store.reads.files.file_view's keys); `caf`: the Caf that manages its Esat.
    None for a file accepted whole: nothing to do."""
    etat, statut, code = view["etat"], view.get("statut"), view.get("code") or ""
    if etat == QUARANTAINE:
        return NextStep(
            ADMIN,
            "le service n'a pas pu juger ce fichier (erreur ci-dessus) : l'administrateur du service corrige le "
            "défaut (configuration, disque, version du logiciel), puis le rejoue ; rejoué avant la correction, il "
            "retourne en quarantaine. L'Esat n'a rien à faire",
        )
    if etat != ACQUITTE:
        return NextStep("le service", "le fichier est en cours de traitement : la prochaine exécution le termine")
    if statut == REJETE and (code.startswith("H") or code == "F06"):
        return NextStep(
            caf_label(caf),
            f"{caf_label(caf)} corrige ses données d'habilitation dans Habpps (code {code}) ; {NATIONAL} importe "
            "l'extrait corrigé ; puis un gestionnaire rejoue le fichier. L'Esat n'a pas à le renvoyer",
            national_step="importer l'extrait Habpps corrigé",
        )
    if statut == REJETE:
        return NextStep(
            ESAT,
            f"l'Esat corrige son fichier d'après le compte rendu{f' (code {code})' if code else ''} et le dépose de "
            "nouveau ; un rejeu ne changerait rien",
        )
    if statut == DOUBLON:
        return NextStep(
            ESAT, "rien à faire, sauf si l'Esat voulait envoyer un autre contenu : elle dépose alors le bon"
        )
    if statut == "PARTIEL":
        return NextStep(
            ESAT,
            "l'Esat corrige les enregistrements rejetés d'après le compte rendu et les renvoie dans un nouveau fichier",
        )
    return None


__all__ = ["NextStep", "next_step", "caf_label"]
