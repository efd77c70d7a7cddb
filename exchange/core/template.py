"""The empty declaration an Esat starts from: the header, one example line, and (xlsx) text-formatted columns."""

from __future__ import annotations

import io

from exchange.core.rules.values import AMOUNT_COLUMNS, DATE_COLUMNS, HOURS_COLUMN, RATE_COLUMNS
from schemas.declaration import Kind, columns, required
from schemas.fields import DESCRIPTIONS

# The example line (the spec's examples, formats.md §3.1/§3.2); the clerk replaces it with his workers.
EXAMPLE: dict[str, dict[str, str]] = {
    "RG": {
        "siret_esat": "81234567600017",
        "finess_esat": "750012345",
        "annee_reference": "2025",
        "nir": "185057800608491",
        "nom": "Martin",
        "prenoms": "Jérôme",
        "date_naissance": "12/05/1985",
        "numero_allocataire": "1234567",
        "code_caf": "78",
        "date_entree_esat": "01/09/2010",
        "taux_activite_esat": "100",
        "remuneration_garantie_nette": "862,35",
        "part_financee_esat_nette": "150,12",
        "aide_au_poste_nette": "712,23",
        "cumul_milieu_ordinaire": "N",
    },
    "CA": {
        "siret_esat": "81234567600017",
        "nir": "292027512345620",
        "nom": "Lefèvre",
        "prenoms": "Anne Marie",
        "date_naissance": "03/02/1992",
        "code_caf": "75",
        "type_changement": "HAUSSE_TAUX",
        "date_effet": "01/01/2026",
        "taux_activite_avant": "50",
        "taux_activite_apres": "80",
    },
}
NUMBER_COLUMNS = frozenset((*AMOUNT_COLUMNS, *RATE_COLUMNS, HOURS_COLUMN))
TEXT_FORMAT = "@"


def example_row(kind: Kind) -> list[str]:
    return [EXAMPLE[kind].get(c, "") for c in columns(kind)]


def template_csv(kind: Kind) -> bytes:
    """The CSV model: UTF-8 with BOM (accents right in a spreadsheet), `;`, header and one example line."""
    lines = [";".join(columns(kind)), ";".join(example_row(kind))]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def template_xlsx(kind: Kind) -> bytes:
    """The workbook model: first sheet = the declaration (identifiers and dates formatted as text so that
    the spreadsheet keeps leading zeros and never turns a SIRET into 8,12346E+13), second sheet = help."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = f"Déclaration {kind}"
    bold = Font(bold=True)
    for i, column in enumerate(columns(kind), start=1):
        letter = get_column_letter(i)
        head = sheet.cell(row=1, column=i, value=column)
        head.font = bold
        value = EXAMPLE[kind].get(column, "")
        is_number = column in NUMBER_COLUMNS
        cell = sheet.cell(
            row=2, column=i, value=(float(value.replace(",", ".")) if is_number and value else (value or None))
        )
        cell.number_format = "0.00" if is_number else TEXT_FORMAT
        head.number_format = TEXT_FORMAT
        sheet.column_dimensions[letter].number_format = "0.00" if is_number else TEXT_FORMAT
        sheet.column_dimensions[letter].width = max(12, len(column) + 2)
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("Aide")
    help_sheet.append(["colonne", "obligatoire", "contenu"])
    for c in help_sheet[1]:
        c.font = bold
    for column in columns(kind):
        kind_of = (
            "date JJ/MM/AAAA"
            if column in DATE_COLUMNS
            else "nombre, virgule décimale, sans espace ni symbole"
            if column in NUMBER_COLUMNS
            else "texte"
        )
        help_sheet.append(
            [column, "oui" if column in required(kind) else "non", f"{DESCRIPTIONS.get(column, column)} — {kind_of}"]
        )
    help_sheet.append([])
    help_sheet.append(
        [
            "Remplacez la ligne d'exemple par vos salariés (une ligne par salarié pour RG, par changement "
            "pour CA), puis nommez le fichier ESAT_<SIRET>_" + kind + "_<AAAAMMJJ>_<NNN>.xlsx."
        ]
    )
    help_sheet.column_dimensions["A"].width = 30
    help_sheet.column_dimensions["C"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
