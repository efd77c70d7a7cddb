"""The rule catalogue: one table (rules.csv) of code → severity, field, French message, read by code and docs."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from schemas.masking import mask_nirs_in

BLOCKING = "BLOQUANTE"
NON_BLOCKING = "NON_BLOQUANTE"
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
    message: str  # French template; placeholders {champ} and {detail}
    trigger: str  # what triggers it, for the docs

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    def render(self, champ: str = "", detail: str = "") -> str:
        """The French message with its placeholders filled; a NIR-shaped value in them is masked."""
        return self.message.replace("{champ}", mask_nirs_in(champ or self.field)).replace(
            "{detail}", mask_nirs_in(detail))


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
