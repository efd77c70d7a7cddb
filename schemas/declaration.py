"""The declaration formats: RG and CA columns, which are required, and their XML element names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Kind = Literal["RG", "CA"]

RG_COLUMNS: tuple[str, ...] = (
    "siret_esat",
    "finess_esat",
    "annee_reference",
    "nir",
    "nom",
    "prenoms",
    "date_naissance",
    "numero_allocataire",
    "code_caf",
    "date_entree_esat",
    "taux_activite_esat",
    "remuneration_garantie_nette",
    "part_financee_esat_nette",
    "aide_au_poste_nette",
    "cumul_milieu_ordinaire",
    "siret_employeur_mo",
    "type_contrat_mo",
    "date_debut_mo",
    "heures_hebdo_mo",
    "salaire_net_mo",
)
RG_REQUIRED: frozenset[str] = frozenset(
    {
        "siret_esat",
        "annee_reference",
        "nir",
        "nom",
        "prenoms",
        "date_naissance",
        "code_caf",
        "date_entree_esat",
        "taux_activite_esat",
        "remuneration_garantie_nette",
        "part_financee_esat_nette",
        "aide_au_poste_nette",
        "cumul_milieu_ordinaire",
    }
)
MO_FIELDS_RG: tuple[str, ...] = (
    "siret_employeur_mo",
    "type_contrat_mo",
    "date_debut_mo",
    "heures_hebdo_mo",
    "salaire_net_mo",
)

CA_COLUMNS: tuple[str, ...] = (
    "siret_esat",
    "nir",
    "nom",
    "prenoms",
    "date_naissance",
    "numero_allocataire",
    "code_caf",
    "type_changement",
    "date_effet",
    "taux_activite_avant",
    "taux_activite_apres",
    "motif_depart",
    "siret_employeur_mo",
    "type_contrat_mo",
    "date_debut_mo",
    "heures_hebdo_mo",
)
CA_REQUIRED: frozenset[str] = frozenset(
    {
        "siret_esat",
        "nir",
        "nom",
        "prenoms",
        "date_naissance",
        "code_caf",
        "type_changement",
        "date_effet",
    }
)
# CA: which conditional fields each change type uses (all others must be empty).
CA_FIELDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "HAUSSE_TAUX": ("taux_activite_avant", "taux_activite_apres"),
    "BAISSE_TAUX": ("taux_activite_avant", "taux_activite_apres"),
    "DEPART": ("motif_depart",),
    "DEBUT_CUMUL_MO": ("siret_employeur_mo", "type_contrat_mo", "date_debut_mo", "heures_hebdo_mo"),
    "FIN_CUMUL_MO": (),
}
CA_CONDITIONAL: tuple[str, ...] = (
    "taux_activite_avant",
    "taux_activite_apres",
    "motif_depart",
    "siret_employeur_mo",
    "type_contrat_mo",
    "date_debut_mo",
    "heures_hebdo_mo",
)

TYPES_CONTRAT: tuple[str, ...] = ("CDI", "CDD", "CTT", "AUTRE", "INDEPENDANT")  # INDEPENDANT: v1.2
TYPES_CHANGEMENT: tuple[str, ...] = tuple(CA_FIELDS_BY_TYPE)
MOTIFS_DEPART: tuple[str, ...] = (
    "DEMISSION",
    "ORIENTATION_MILIEU_ORDINAIRE",
    "REORIENTATION_CDAPH",
    "RETRAITE",
    "DECES",
    "AUTRE",
)

# The XML "cumul" is the presence of <milieuOrdinaire>; its children have their own names.
MO_XML_NAMES: dict[str, str] = {
    "siretEmployeur": "siret_employeur_mo",
    "typeContrat": "type_contrat_mo",
    "dateDebut": "date_debut_mo",
    "heuresHebdo": "heures_hebdo_mo",
    "salaireNet": "salaire_net_mo",
}


def columns(kind: Kind) -> tuple[str, ...]:
    return RG_COLUMNS if kind == "RG" else CA_COLUMNS


def required(kind: Kind) -> frozenset[str]:
    return RG_REQUIRED if kind == "RG" else CA_REQUIRED


def camel(name: str) -> str:
    """CSV column name → XML element name (lowerCamelCase)."""
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


FILE_NAME = re.compile(
    r"^ESAT_(?P<siret>[0-9]{14})_(?P<kind>RG|CA)_(?P<day>[0-9]{8})_(?P<seq>[0-9]{3})\.(?P<ext>(?i:csv|xml|xlsx|ods))$"
)


@dataclass(frozen=True)
class FileName:
    """A file name that follows formats.md §2."""

    siret: str
    kind: Kind
    produced_on: date
    sequence: int
    extension: str  # "csv", "xml", "xlsx" or "ods", lower case


# Spreadsheet formats that are not accepted (formats.md §2 accepts .xlsx and, from v1.3, .ods), with their names.
OTHER_WORKBOOKS: dict[str, str] = {
    "xls": "Excel 97-2003 (.xls)",
    "xlsm": "Excel prenant en charge les macros (.xlsm)",
    "xlsb": "Excel binaire (.xlsb)",
    "numbers": "Numbers (.numbers)",
}


def other_workbook(name: str) -> str | None:
    """The kind of spreadsheet a refused name is (`.ods`, `.xls`…), or None."""
    _, dot, ext = name.rpartition(".")
    return OTHER_WORKBOOKS.get(ext.lower()) if dot else None


def parse_file_name(name: str) -> FileName | None:
    """The parts of a well-formed file name, or None (→ F02)."""
    m = FILE_NAME.fullmatch(name)
    if not m:
        return None
    try:
        day = date(int(m["day"][:4]), int(m["day"][4:6]), int(m["day"][6:]))
    except ValueError:
        return None
    return FileName(m["siret"], m["kind"], day, int(m["seq"]), m["ext"].lower())  # type: ignore[arg-type]
