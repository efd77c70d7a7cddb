"""The reading oracle (issues 22, 31): random declarations written as .xlsx (through openpyxl, as a spreadsheet saves
them) or as .ods (as LibreOffice writes one) — each cell as text, number, date, percentage, zero-padded number or
formula with its cached value, formulas giving empty text, the SIRET merged down adjacent rows, title rows above
the header, hidden rows, extra sheets, a stale <dimension> — must read as what the spreadsheet shows.

`make test` runs the `ci` profile (ESAT_FUZZ_EXAMPLES, default 200 cases); `make fuzz` the `campagne` one."""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.core.reading.workbook import Bounds
from exchange.core.reading.workbook_reader import read_workbook
from exchange.core.rules.values import AMOUNT_COLUMNS, DATE_COLUMNS, HOURS_COLUMN, RATE_COLUMNS
from schemas.declaration import RG_COLUMNS
from tests.ods_files import EMPTY_TEXT, ods_workbook

COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck), "print_blob": True}
settings.register_profile("oracle-ci", max_examples=int(os.environ.get("ESAT_FUZZ_EXAMPLES", "200")), **COMMON)
settings.register_profile("oracle-campagne", max_examples=int(os.environ.get("ESAT_FUZZ_EXAMPLES", "3000")), **COMMON)
PROFILE = settings.get_profile("oracle-" + os.environ.get("ESAT_FUZZ_PROFILE", "ci"))
LIMIT = 200_000_000
DECIMALS = (*AMOUNT_COLUMNS, *RATE_COLUMNS, HOURS_COLUMN)
# Identifiers whose digits a number cell keeps (read zero-padded to the field's width, §3.0).
WIDTH = {"siret_esat": 14, "siret_employeur_mo": 14, "finess_esat": 9}
EMPTY_MARK = "FORMULE-VIDE-7f3a"  # written by openpyxl, then rewritten as Calc saves a formula giving ""


def digits(n: int, first: str = "0123456789") -> st.SearchStrategy[str]:
    return st.builds(lambda a, b: a + b, st.sampled_from(first), st.text("0123456789", min_size=n - 1, max_size=n - 1))


def decimal_text(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """A decimal with at most 2 decimals in [low, high] (hundredths drawn as an integer)."""
    return st.integers(low, high).map(lambda h: Decimal(h) / 100)


NAME_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâîïôöùûüçÉÈÇ' -"))
NAME = st.text(NAME_CHARS, min_size=1, max_size=30).map(str.strip).filter(lambda s: s and not s.startswith(("'", "-")))
DATES = st.dates(date(1930, 1, 1), date(2030, 12, 31))

FIELDS: dict[str, st.SearchStrategy] = {
    "siret_esat": digits(14),
    "finess_esat": digits(9) | st.just("2A1234567"),
    "annee_reference": st.just("2025"),
    "nir": digits(15, "123478"),
    "nom": NAME,
    "prenoms": NAME,
    "date_naissance": DATES,
    "numero_allocataire": st.none() | st.integers(1, 7).flatmap(digits),
    "code_caf": st.sampled_from(["01", "07", "13", "2A", "2B", "75", "78", "95", "971", "974"]),
    "date_entree_esat": DATES,
    "taux_activite_esat": decimal_text(1, 10_000),
    "remuneration_garantie_nette": decimal_text(0, 300_000),
    "part_financee_esat_nette": decimal_text(0, 300_000),
    "aide_au_poste_nette": decimal_text(0, 300_000),
    "cumul_milieu_ordinaire": st.sampled_from(["O", "N", "o", "n"]),
    "siret_employeur_mo": st.none() | digits(14),
    "type_contrat_mo": st.none() | st.sampled_from(["CDI", "INDEPENDANT"]),
    "date_debut_mo": st.none() | DATES,
    "heures_hebdo_mo": st.none() | decimal_text(1, 3_499),
    "salaire_net_mo": st.none() | decimal_text(0, 500_000),
}


def shown(column: str, value: object) -> object:
    """What a cell of the column means once displayed: a date, a Decimal, or the text itself."""
    if value is None:
        return None
    if column in DATE_COLUMNS:
        if isinstance(value, date):
            return value
        text = str(value)
        return datetime.strptime(text, "%d/%m/%Y").date() if "/" in text else date.fromisoformat(text)
    if column in DECIMALS:
        return Decimal(str(value).replace(",", ".")).normalize()
    return value


@st.composite
def cell(draw, column: str, value: object) -> tuple[object, str, bool]:
    """(the value openpyxl writes, its number format, whether it becomes a formula with that cached value)."""
    formula = draw(st.integers(0, 9)) == 0
    if value is None:
        return None, "General", False
    if column in DATE_COLUMNS:
        kind = draw(st.sampled_from(["date", "dmy", "iso"]))
        if kind == "date":
            return (
                datetime(value.year, value.month, value.day),
                draw(st.sampled_from(["dd/mm/yyyy", "yyyy-mm-dd", "d mmm yyyy", "mm-dd-yy"])),
                formula,
            )
        return (value.strftime("%d/%m/%Y") if kind == "dmy" else value.isoformat()), "@", formula
    if column in DECIMALS:
        kind = draw(st.sampled_from(["number", "text", "percent"] if column in RATE_COLUMNS else ["number", "text"]))
        if kind == "number":
            return float(value), draw(st.sampled_from(["General", "0.00", "#,##0.00", "0.00 €"])), formula
        if kind == "percent":
            return float(value / 100), "0%" if value == value.to_integral() else "0.00%", formula
        return str(value).replace(".", draw(st.sampled_from([",", "."]))), "@", formula
    text = str(value)
    if (
        column
        in (
            "siret_esat",
            "siret_employeur_mo",
            "finess_esat",
            "nir",
            "numero_allocataire",
            "code_caf",
            "annee_reference",
        )
        and text.isdigit()
    ):
        kind = draw(st.sampled_from(["number", "padded", "text"]))
        width = WIDTH.get(column, 0)
        if kind == "number" and (not text.startswith("0") or len(text) == width):
            return int(text), "General", formula
        if kind in ("number", "padded") and column != "annee_reference":
            return int(text), "0" * len(text), formula
    return text, "@", formula


@st.composite
def declarations(draw):
    """(workbook bytes, its extension, expected rows {line: {column: shown value}}, hidden lines): one sheet model
    written either through openpyxl (.xlsx) or as LibreOffice writes an .ods."""
    order = draw(st.permutations(RG_COLUMNS))
    n = draw(st.integers(1, 6))
    records = [{c: draw(FIELDS[c]) for c in RG_COLUMNS} for _ in range(n)]
    sheets: list[tuple[str, dict[int, tuple[bool, dict[int, tuple[object, str, bool]]]], list]] = []
    if draw(st.booleans()):
        guide = {1: (False, {0: ("Mode d'emploi", "@", False)})}
        guide[2] = (False, {0: ("Une ligne par salarié, la ligne d'en-tête ne se modifie pas.", "@", False)})
        sheets.append(("Mode d'emploi", guide, []))
    for _ in range(draw(st.integers(0, 1))):
        sheets.append(("Vide avant", {}, []))
    rows: dict[int, tuple[bool, dict[int, tuple[object, str, bool]]]] = {}
    titles = draw(st.integers(0, 3))
    if titles:
        rows[1] = (False, {0: ("Déclaration RG 2025", "@", False)})
    header_row = titles + 1
    rows[header_row] = (False, {j: (c, "@", False) for j, c in enumerate(order)})
    expected: dict[int, dict[str, object]] = {}
    hidden: list[int] = []
    row_number = header_row
    for record in records:
        row_number += draw(st.integers(0, 1))  # a blank row between records keeps its number
        row_number += 1
        expected[row_number] = {c: shown(c, record[c]) for c in RG_COLUMNS}
        cells: dict[int, tuple[object, str, bool]] = {}
        for j, column in enumerate(order):
            value, fmt, formula = draw(cell(column, record[column]))
            if value is None:
                if draw(st.integers(0, 2)) == 0:  # =SI(…;"";…) dragged down: empty text, an empty cell (v1.3)
                    cells[j] = (EMPTY_TEXT, "General", True)
                continue
            cells[j] = (value, fmt, formula)
            if isinstance(value, str) and column not in DATE_COLUMNS and not value.strip():
                expected[row_number][column] = None
        is_hidden = draw(st.integers(0, 4)) == 0
        rows[row_number] = (is_hidden, cells)
        if is_hidden:
            hidden.append(row_number)
    if draw(st.booleans()):  # the formulas dragged below the last worker: a row of empty texts is a blank row
        rows[row_number + 1] = (False, dict.fromkeys(range(draw(st.integers(1, 5))), (EMPTY_TEXT, "General", True)))
    merges = []
    if draw(st.booleans()):  # the SIRET merged down each run of adjacent rows: read in each of them (v1.3)
        column = order.index("siret_esat")
        lines = sorted(expected)
        runs: list[list[int]] = []
        for line in lines:
            if runs and runs[-1][-1] == line - 1:
                runs[-1].append(line)
            else:
                runs.append([line])
        for run in runs:
            if len(run) < 2 or column not in rows[run[0]][1]:
                continue
            merges.append((run[0], run[-1], column))
            for line in run[1:]:
                rows[line][1].pop(column, None)
                expected[line]["siret_esat"] = expected[run[0]]["siret_esat"]
    sheets.append(("Déclaration", rows, merges))
    for _ in range(draw(st.integers(0, 2))):
        sheets.append(("Vide après", {}, []))
    if draw(st.booleans()):
        return ods_workbook(sheets), "ods", expected, hidden
    return xlsx_workbook(sheets, draw(st.booleans()), draw(st.booleans())), "xlsx", expected, hidden


def xlsx_workbook(sheets, stale: bool, shared: bool) -> bytes:
    """The sheet model through openpyxl, then as a spreadsheet saves it (see rewrite)."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    formulas: dict[str, object] = {}
    for name, rows, merges in sheets:
        sheet = book.create_sheet(name)
        for number, (is_hidden, cells) in rows.items():
            for j, (value, fmt, formula) in cells.items():
                target = sheet.cell(row=number + 0, column=j + 1, value=EMPTY_MARK if value is EMPTY_TEXT else value)
                target.number_format = fmt
                if formula and name == "Déclaration":
                    formulas[target.coordinate] = value
            if is_hidden:
                sheet.row_dimensions[number].hidden = True
        for first, last, j in merges:
            sheet.merge_cells(start_row=first, start_column=j + 1, end_row=last, end_column=j + 1)
    out = io.BytesIO()
    book.save(out)
    return rewrite(out.getvalue(), formulas, stale, shared)


def rewrite(data: bytes, formulas: dict[str, object], stale: bool, shared: bool) -> bytes:
    """The workbook as a spreadsheet saves it: chosen cells become formulas keeping their cached value,
    (sometimes) a stale <dimension> claims the sheet is one row high, and (sometimes) texts are shared
    strings (xl/sharedStrings.xml, as Excel and LibreOffice write them) instead of inline ones."""
    if not formulas and not stale and not shared:
        return data
    empty = rf'<c r="([A-Z]+[0-9]+)"([^>]*) t="inlineStr"><is><t>{EMPTY_MARK}</t></is></c>'

    src = zipfile.ZipFile(io.BytesIO(data))
    table: dict[str, int] = {}  # shared string → index, in order of first use
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                text = body.decode("utf-8")
                text = re.sub(empty, r'<c r="\1"\2 t="str"><f>IF(1=0,"x","")</f><v></v></c>', text)  # Calc's way
                for ref in formulas:
                    text = re.sub(rf'<c r="{ref}"([^>]*)><v>', rf'<c r="{ref}"\1><f>1+0</f><v>', text)
                    text = re.sub(
                        rf'<c r="{ref}"([^>]*) t="inlineStr"><is><t>([^<]*)</t></is></c>',
                        rf'<c r="{ref}"\1 t="str"><f>T("x")</f><v>\2</v></c>',
                        text,
                    )
                if stale:
                    text = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:B1"/>', text)
                if shared:
                    text = re.sub(
                        r' t="inlineStr"><is><t(?: [^>]*)?>([^<]*)</t></is>',
                        lambda m: f' t="s"><v>{table.setdefault(m.group(1), len(table))}</v>',
                        text,
                    )
                body = text.encode("utf-8")
            elif shared and item.filename == "[Content_Types].xml":
                body = body.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            elif shared and item.filename == "xl/_rels/workbook.xml.rels":
                body = body.replace(
                    b"</Relationships>",
                    b'<Relationship Type="http://schemas.openxmlformats.org/'
                    b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml" '
                    b'Id="rIdShared"/></Relationships>',
                )
            dst.writestr(item, body)
        if shared:
            items = "".join(f'<si><t xml:space="preserve">{t}</t></si>' for t in table)
            dst.writestr(
                "xl/sharedStrings.xml",
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                f'main" count="{len(table)}" uniqueCount="{len(table)}">{items}</sst>',
            )
    return out.getvalue()


@PROFILE
@given(declarations())
def test_what_is_read_is_what_the_spreadsheet_shows(case):
    data, ext, expected, hidden = case
    result = read_workbook(data, "RG", ext, Bounds.of(LIMIT // 20, 100_000), 100_000)
    assert result.blocking is None, result.blocking
    frame = result.frame
    assert frame["ligne"].to_list() == list(expected)
    for row in frame.iter_rows(named=True):
        want = expected[row["ligne"]]
        got = {c: shown(c, row[c]) for c in RG_COLUMNS}
        assert got == want, row["ligne"]
    assert list(result.hidden) == hidden
