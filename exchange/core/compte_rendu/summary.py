"""What every compte rendu says first: counts per severity and code, and what to do next, chosen by statut."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from exchange.core.clock import french_moment
from exchange.core.judge import ACCEPTE, DOUBLON, PARTIEL, REJETE, Judgement
from exchange.core.safe_text import safe_text
from schemas.anomalies import mask_nir
from schemas.fields import plural

BLOCKING = "BLOQUANTE"
NON_BLOCKING = "NON_BLOQUANTE"
# One anomaly of a compte rendu, by column name (anomaly_lines lists them): built from a polars row, whose
# values polars types only at run time (ligne: int | None, the others str).
AnomalyLine = dict[str, Any]

HABILITATION_CODES = ("H01", "H02", "H03", "H04", "H05", "H06", "H07")


@dataclass(frozen=True)
class CodeCount:
    """How many anomalies one code gave, and its severity."""

    code: str
    gravite: str
    nombre: int


@dataclass(frozen=True)
class Summary:
    """The head of a compte rendu: the file, its statut, its counts and the « que faire » sentence."""

    fichier: str
    date_traitement: date
    statut: str
    recus: int
    acceptes: int
    rejetes: int
    bloquantes: int
    non_bloquantes: int
    par_code: tuple[CodeCount, ...]
    texte: str  # « 2 anomalies bloquantes (R04 : 1, R06 : 1) ; 1 anomalie non bloquante (W10 : 1). »
    que_faire: str
    rejoue_le: datetime | None  # set when this compte rendu comes from a replay of the file


def anomaly_lines(j: Judgement) -> list[AnomalyLine]:
    """One dict per anomaly, file-level first then by line: ligne, nir_masque, code, gravite, champ,
    message, nom, prenoms (the full NIR never leaves this function). Every text is made safe for XML and
    terminals here, once, for every form of the compte rendu (exchange.core.safe_text)."""
    rows = j.anomalies.iter_rows(named=True)  # sorted here, stably: a frame of a few dozen rows costs more
    ordered = sorted(rows, key=lambda a: (a["ligne"] is not None, a["ligne"] or 0, a["code"] or ""))
    return [
        {
            "ligne": a["ligne"],
            "nir_masque": mask_nir(a["nir"]),
            "code": a["code"],
            "gravite": a["gravite"],
            "champ": safe_text(a["champ"] or ""),
            "message": safe_text(a["message"]),
            "nom": safe_text(a.get("nom") or ""),
            "prenoms": safe_text(a.get("prenoms") or ""),
        }
        for a in ordered
    ]


def count_text(summary_counts: tuple[CodeCount, ...], bloquantes: int, non_bloquantes: int) -> str:
    """The counts as one French sentence, agreed in number."""
    parts = []
    for gravite, n, singular, plural_form in (
        (BLOCKING, bloquantes, "anomalie bloquante", "anomalies bloquantes"),
        (NON_BLOCKING, non_bloquantes, "anomalie non bloquante", "anomalies non bloquantes"),
    ):
        if n:
            codes = ", ".join(f"{c.code} : {c.nombre}" for c in summary_counts if c.gravite == gravite)
            parts.append(f"{plural(n, singular, plural_form)} ({codes})")
    return (" ; ".join(parts) + ".") if parts else "Aucune anomalie."


def what_to_do(j: Judgement, bloquantes: int, non_bloquantes: int) -> str:
    """The one sentence that tells the Esat what to send next, by statut."""
    if j.statut == DOUBLON:
        return (
            "Rien à faire : ce contenu a déjà été reçu et traité, il n'est pas traité une seconde fois. "
            "S'il devait s'agir d'une correction, vérifiez que vous avez déposé le bon fichier."
        )
    if j.statut == ACCEPTE:
        if non_bloquantes:
            return (
                "Rien à renvoyer : toutes les lignes sont acceptées. Vérifiez les points signalés ; "
                "s'il faut corriger une ligne, envoyez-la seule dans un nouveau fichier."
            )
        return "Rien à faire : toutes les lignes sont acceptées."
    if j.statut == PARTIEL:
        fix = (
            "Corrigez la ligne rejetée et envoyez-la seule"
            if j.records_rejected == 1
            else f"Corrigez les {j.records_rejected} lignes rejetées et envoyez-les seules"
        )
        if j.kind == "CA":
            return (
                f"{fix} dans un nouveau fichier (nouveau numéro d'ordre) : ne renvoyez pas les lignes "
                "acceptées, elles sont déjà transmises à la Caf."
            )
        return (
            f"{fix} dans un nouveau fichier (nouveau numéro d'ordre) : les lignes acceptées sont déjà "
            "transmises à la Caf, et une ligne renvoyée pour un salarié déjà accepté remplace la précédente "
            "(W05)."
        )
    if j.file_code in HABILITATION_CODES:
        return (
            "Aucune ligne n'a été traitée : demandez à votre Caf de corriger votre habilitation comme "
            "indiqué ci-dessous ; une fois corrigée, la Caf retraite ce fichier, ou renvoyez-le en entier."
        )
    if j.file_code is not None or j.records_in == 0:
        return "Le fichier n'a pas été traité : corrigez-le comme indiqué ci-dessous et renvoyez-le en entier."
    return (
        "Toutes les lignes ont été rejetées : corrigez-les comme indiqué ci-dessous et renvoyez le fichier en entier."
    )


def cr_summary(
    j: Judgement, processing_date: date, replayed_at: datetime | None = None, lines: list[AnomalyLine] | None = None
) -> Summary:
    """The summary of a judgement (REJETE with a file code, PARTIEL… as formats.md §6 fixes them);
    `lines`: its anomaly_lines, when the caller has them."""
    counts: dict[tuple[str, str], int] = {}
    pairs = (
        ((a["code"], a["gravite"]) for a in lines)
        if lines is not None
        else j.anomalies.select("code", "gravite").iter_rows()
    )
    for code, gravite in pairs:
        counts[(code, gravite)] = counts.get((code, gravite), 0) + 1
    order = sorted(counts, key=lambda k: (k[1] != BLOCKING, k[0]))
    par_code = tuple(CodeCount(code, gravite, counts[(code, gravite)]) for code, gravite in order)
    bloquantes = sum(c.nombre for c in par_code if c.gravite == BLOCKING)
    non_bloquantes = sum(c.nombre for c in par_code if c.gravite != BLOCKING)
    texte = count_text(par_code, bloquantes, non_bloquantes)
    if replayed_at is not None:
        texte = (
            f"Nouveau traitement de ce fichier le {french_moment(replayed_at)} (après une correction de la "
            f"Caf) : ce compte rendu remplace le précédent. {texte}"
        )
    return Summary(
        fichier=safe_text(j.name),
        date_traitement=processing_date,
        statut=j.statut,
        recus=j.records_in,
        acceptes=j.records_accepted,
        rejetes=j.records_rejected,
        bloquantes=bloquantes,
        non_bloquantes=non_bloquantes,
        par_code=par_code,
        texte=texte,
        que_faire=what_to_do(j, bloquantes, non_bloquantes),
        rejoue_le=replayed_at,
    )


def records_text(s: Summary) -> str:
    """« 2 enregistrements reçus, 1 accepté, 1 rejeté », agreed in number."""
    return (
        f"{plural(s.recus, 'enregistrement reçu', 'enregistrements reçus')}, "
        f"{plural(s.acceptes, 'accepté', 'acceptés')}, {plural(s.rejetes, 'rejeté', 'rejetés')}"
    )


__all__ = [
    "ACCEPTE",
    "DOUBLON",
    "PARTIEL",
    "REJETE",
    "CodeCount",
    "Summary",
    "anomaly_lines",
    "cr_summary",
    "records_text",
]
