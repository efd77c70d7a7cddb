"""The empty declaration an Esat starts from: the header, one example line, and (xlsx, ods) columns formatted so
that what the clerk types is what she means (identifiers and dates as text, rates as percentages)."""

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
NUMBER_FORMAT = "0.00"
# A rate column is a percentage: « 80 % » typed (or 80, which Excel and Calc turn into 80 % in such a column) is
# the fraction 0.8 shown « 80,00 % », read 80 (formats.md §3.0). Formatted `0.00`, « 80 % » typed showed 0,80.
RATE_FORMAT = "0.00%"


def column_format(column: str) -> str:
    """The number format of a model column: percentage for rates, `0.00` for amounts and hours, else text."""
    if column in RATE_COLUMNS:
        return RATE_FORMAT
    return NUMBER_FORMAT if column in NUMBER_COLUMNS else TEXT_FORMAT


def example_value(kind: Kind, column: str) -> str | float | None:
    """The example line's cell as the workbook holds it: a number (a rate as its fraction) or text."""
    value = EXAMPLE[kind].get(column, "")
    if not value:
        return None
    if column in RATE_COLUMNS:
        return float(value.replace(",", ".")) / 100
    return float(value.replace(",", ".")) if column in NUMBER_COLUMNS else value


def help_rows(kind: Kind, extension: str) -> list[list[str]]:
    """The « Aide » sheet: each column, whether it is required, what it holds; then how to name the file."""
    rows = [["colonne", "obligatoire", "contenu"]]
    for column in columns(kind):
        kind_of = (
            "date JJ/MM/AAAA"
            if column in DATE_COLUMNS
            else "pourcentage (tapez 80 % ou 80 : la colonne est au format pourcentage)"
            if column in RATE_COLUMNS
            else "nombre, virgule décimale, sans espace ni symbole"
            if column in NUMBER_COLUMNS
            else "texte"
        )
        rows.append(
            [column, "oui" if column in required(kind) else "non", f"{DESCRIPTIONS.get(column, column)} — {kind_of}"]
        )
    rows.append([])
    rows.append(
        [
            "Remplacez la ligne d'exemple par vos salariés (une ligne par salarié pour RG, par changement "
            f"pour CA), puis nommez le fichier ESAT_<SIRET>_{kind}_<AAAAMMJJ>_<NNN>.{extension}."
        ]
    )
    return rows


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
        cell = sheet.cell(row=2, column=i, value=example_value(kind, column))
        cell.number_format = column_format(column)
        head.number_format = TEXT_FORMAT
        sheet.column_dimensions[letter].number_format = column_format(column)
        sheet.column_dimensions[letter].width = max(12, len(column) + 2)
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("Aide")
    for row in help_rows(kind, "xlsx"):
        help_sheet.append(row)
    for c in help_sheet[1]:
        c.font = bold
    help_sheet.column_dimensions["A"].width = 30
    help_sheet.column_dimensions["C"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
