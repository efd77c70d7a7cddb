"""Pandera models of the typed RG and CA frames that validate_records returns."""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine as pe

_AMOUNT = {"precision": 10, "scale": 2}
_RATE = {"precision": 5, "scale": 2}


def _text(**kw: Any) -> Any:  # pandera Field keywords
    return pa.Field(nullable=True, **kw)


class _Common(pa.DataFrameModel):
    """Columns common to RG and CA. Values failing their own rule are null (the record is rejected)."""

    ligne: pl.Int64 = pa.Field(ge=1, unique=True)
    siret_esat: pl.String = _text()
    nir: pl.String = _text()
    nom: pl.String = _text()
    prenoms: pl.String = _text()
    date_naissance: pl.Date = pa.Field(nullable=True)
    numero_allocataire: pl.String = _text()
    code_caf: pl.String = _text()
    siret_employeur_mo: pl.String = _text()
    type_contrat_mo: pl.String = _text()
    date_debut_mo: pl.Date = pa.Field(nullable=True)
    heures_hebdo_mo: pe.Decimal = pa.Field(nullable=True, gt=0, lt=35, dtype_kwargs=_RATE)
    rejete: pl.Boolean = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = False


class RgTyped(_Common):
    """A typed RG frame."""

    finess_esat: pl.String = _text()
    annee_reference: pl.Int32 = pa.Field(nullable=True, ge=1000, le=9999)
    date_entree_esat: pl.Date = pa.Field(nullable=True)
    taux_activite_esat: pe.Decimal = pa.Field(nullable=True, gt=0, le=100, dtype_kwargs=_RATE)
    remuneration_garantie_nette: pe.Decimal = pa.Field(nullable=True, ge=0, dtype_kwargs=_AMOUNT)
    part_financee_esat_nette: pe.Decimal = pa.Field(nullable=True, ge=0, dtype_kwargs=_AMOUNT)
    aide_au_poste_nette: pe.Decimal = pa.Field(nullable=True, ge=0, dtype_kwargs=_AMOUNT)
    cumul_milieu_ordinaire: pl.Boolean = pa.Field(nullable=True)
    salaire_net_mo: pe.Decimal = pa.Field(nullable=True, ge=0, dtype_kwargs=_AMOUNT)


class CaTyped(_Common):
    """A typed CA frame."""

    type_changement: pl.String = _text()
    date_effet: pl.Date = pa.Field(nullable=True)
    taux_activite_avant: pe.Decimal = pa.Field(nullable=True, gt=0, le=100, dtype_kwargs=_RATE)
    taux_activite_apres: pe.Decimal = pa.Field(nullable=True, gt=0, le=100, dtype_kwargs=_RATE)
    motif_depart: pl.String = _text()


def model_for(kind: str) -> type[pa.DataFrameModel]:
    """The pandera model of the typed frame of a kind (RG or CA)."""
    return RgTyped if kind == "RG" else CaTyped
