"""Anomalies: the value a check returns for bad data (a file-level one, or a frame of record-level ones)."""
from __future__ import annotations

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
}


@dataclass(frozen=True)
class Anomaly:
    """One anomaly, built from the catalogue."""

    code: str
    gravite: str
    champ: str
    message: str
    ligne: int | None = None
    nir: str | None = None

    @classmethod
    def of(cls, code: str, variant: str = "", *, champ: str = "", detail: str = "",
           ligne: int | None = None, nir: str | None = None) -> "Anomaly":
        r = rule(code, variant)
        return cls(code=code, gravite=r.severity, champ=champ or r.field,
                   message=r.render(champ=champ, detail=detail), ligne=ligne, nir=nir)

    @property
    def blocking(self) -> bool:
        return self.gravite == "BLOQUANTE"


def anomalies_frame(items: list[Anomaly]) -> pl.DataFrame:
    """A frame of ANOMALY_SCHEMA from a list of Anomaly."""
    return pl.DataFrame(
        [{k: getattr(a, k) for k in ANOMALY_SCHEMA} for a in items], schema=ANOMALY_SCHEMA
    )

