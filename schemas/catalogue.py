"""The rule catalogue: one table (rules.csv) of code → severity, field, French message, read by code and docs."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from schemas.fields import field_label
from schemas.masking import mask_nirs_in

BLOCKING = "BLOQUANTE"
NON_BLOCKING = "NON_BLOQUANTE"
# Placeholders of a message template: the field's label in the file, the value found, a figure that
# explains the anomaly, and (XML structure) the line.
PLACEHOLDERS = ("champ", "valeur", "detail", "ligne")
PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
FILE_LEVEL = "FICHIER"
RECORD_LEVEL = "ENREGISTREMENT"


@dataclass(frozen=True)
class Rule:
    """One line of the catalogue: a code and, where a code has several cases, a variant."""

    code: str
    variant: str
    level: str  # FICHIER or ENREGISTREMENT
    severity: str  # BLOQUANTE or NON_BLOQUANTE
    field: str  # default field ("" when the anomaly names it)
    message: str  # French template; placeholders {champ} {valeur} {detail} {ligne}
    trigger: str  # what triggers it, for the docs

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    def pieces(self) -> list[tuple[str, str]]:
        """The template cut into ("", literal text) and (placeholder name, "") pieces, in order."""
        out: list[tuple[str, str]] = []
        at = 0
        for m in PLACEHOLDER.finditer(self.message):
            if m.start() > at:
                out.append(("", self.message[at : m.start()]))
            out.append((m[1], ""))
            at = m.end()
        if at < len(self.message):
            out.append(("", self.message[at:]))
        return out

    def render(
        self, champ: str = "", detail: str = "", valeur: str = "", ligne: int | None = None, xml: bool = False
    ) -> str:
        """The French message: {champ} is the field's label as the file names it (« date de naissance
        (colonne date_naissance) »), {valeur} the value found, {detail} the explaining figure; a NIR-shaped
        value in them is masked."""
        column = champ or self.field
        values = {
            "champ": mask_nirs_in(field_label(column, xml)) if column else "",
            "valeur": mask_nirs_in(valeur),
            "detail": mask_nirs_in(detail),
            "ligne": "" if ligne is None else str(ligne),
        }
        return "".join(values[name] if name else text for name, text in self.pieces())


@cache
def catalogue() -> dict[tuple[str, str], Rule]:
    """Every rule, keyed by (code, variant); read once from schemas/rules.csv."""
    text = resources.files("schemas").joinpath("rules.csv").read_text(encoding="utf-8")
    rules: dict[tuple[str, str], Rule] = {}
    for row in csv.DictReader(text.splitlines(), delimiter=";"):
        r = Rule(
            code=row["code"],
            variant=row["variante"],
            level=row["niveau"],
            severity=row["gravite"],
            field=row["champ"],
            message=row["message"],
            trigger=row["declencheur"],
        )
        rules[(r.code, r.variant)] = r
    return rules


def rule(code: str, variant: str = "") -> Rule:
    """The rule for a code (and variant); KeyError for a code the catalogue does not hold."""
    return catalogue()[(code, variant)]


def codes() -> list[str]:
    """Every distinct code, sorted."""
    return sorted({code for code, _ in catalogue()})
