"""Anomalies: the value a check returns for bad data (a file-level one, or a frame of record-level ones)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from schemas.catalogue import rule
from schemas.masking import mask_nir

__all__ = ["ANOMALY_SCHEMA", "Anomaly", "anomalies_frame", "mask_nir"]

# One row per anomaly. `ligne` is null for file-wide anomalies (F.., W07, W09).
ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "ligne": pl.Int64(),
    "nir": pl.String(),  # the full NIR as declared (masked only when written out)
    "code": pl.String(),
    "gravite": pl.String(),
    "champ": pl.String(),
    "message": pl.String(),
    "nom": pl.String(),  # the worker's nom and prénoms as declared, to find the line without the NIR
    "prenoms": pl.String(),
}
# A value that looks like a NIR (13 characters, or 15 with the key; 2A/2B for Corsica): masked wherever shown.
NIR_SHAPED = r"^[1-8][0-9]{4}(?:[0-9]{2}|2[AaBb])[0-9]{6}(?:[0-9]{2})?$"


@dataclass(frozen=True)
class Anomaly:
    """One anomaly, built from the catalogue."""

    code: str
    gravite: str
    champ: str
    message: str
    ligne: int | None = None
    nir: str | None = None
    nom: str | None = None
    prenoms: str | None = None

    @classmethod
    def of(
        cls,
        code: str,
        variant: str = "",
        *,
        champ: str = "",
        detail: str = "",
        valeur: str = "",
        ligne: int | None = None,
        nir: str | None = None,
        xml: bool = False,
    ) -> Anomaly:
        r = rule(code, variant)
        return cls(
            code=code,
            gravite=r.severity,
            champ=champ or r.field,
            message=r.render(champ=champ, detail=detail, valeur=shown_value(valeur), ligne=ligne, xml=xml),
            ligne=ligne,
            nir=nir,
        )

    @property
    def blocking(self) -> bool:
        return self.gravite == "BLOQUANTE"


def anomalies_frame(items: list[Anomaly]) -> pl.DataFrame:
    """A frame of ANOMALY_SCHEMA from a list of Anomaly."""
    return pl.DataFrame([{k: getattr(a, k) for k in ANOMALY_SCHEMA} for a in items], schema=ANOMALY_SCHEMA)


def shown_value(value: str) -> str:
    """A value as a message may quote it: a NIR-shaped one is masked like the NIR column."""
    return mask_nir(value) if re.match(NIR_SHAPED, value.strip()) else value


def shown_value_expr(e: pl.Expr) -> pl.Expr:
    """shown_value over a column of strings."""
    text = e.str.strip_chars()
    masked = pl.concat_str([text.str.slice(0, 5), pl.lit("********"), text.str.slice(-2)])
    return pl.when(text.str.contains(NIR_SHAPED)).then(masked).otherwise(e)
