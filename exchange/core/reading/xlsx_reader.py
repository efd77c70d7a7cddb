"""Reading a spreadsheet declaration (`.xlsx`, formats.md §3.0): guarded, then the declaration sheet read as the
clerk sees it (formats applied, every stored row, hidden rows flagged) and through the CSV table rules."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

from exchange.core.reading.csv_reader import table_result
from exchange.core.reading.header import header_score
from exchange.core.reading.result import ReadResult, refused
from exchange.core.reading.text import empty_file, is_blank
from exchange.core.reading.xlsx_book import (
    BOOLEAN,
    ERROR,
    NUMBER,
    UNCACHED,
    Book,
    BookError,
    Cell,
    Row,
    Sheet,
    column_letter,
)
from schemas.anomalies import Anomaly
from schemas.declaration import Kind, required

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: .xls, or an .xlsx encrypted with a password
ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")
EXPANSION_FACTOR = 20  # an archive expanding beyond max_file_bytes × 20 is refused (F07) before it is opened
# Identifiers typed as numbers read as their integer digits, left-padded to the field's length (§3.0).
IDENTIFIER_WIDTH: dict[str, int] = {
    "siret_esat": 14,
    "siret_employeur_mo": 14,
    "finess_esat": 9,
    "nir": 0,
    "numero_allocataire": 0,
}
# Columns where a zero-padding number format reads as shown (v1.2): identifiers and codes.
PADDED_COLUMNS = frozenset({*IDENTIFIER_WIDTH, "code_caf"})
HEADER_ROWS = 10  # the declaration header is looked for in a sheet's first 10 rows (v1.2)
QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')  # literal text, escapes and [colour]/[locale] parts of a format
PADDING = re.compile(r"^0+$")


def workbook_refusal(data: bytes, max_expanded_bytes: int) -> Anomaly | None:
    """F01 for what is not a plain .xlsx workbook (an .xls, an .ods, a password, macros, a broken archive),
    F07 for an archive that would expand beyond `max_expanded_bytes`; None when it may be opened."""
    if data.startswith(OLE_MAGIC):
        if ENCRYPTED_MARK in data:
            return Anomaly.of("F01", "classeur", detail="il est protégé par un mot de passe")
        return Anomaly.of("F01", "classeur", detail="c'est un classeur Excel 97-2003 (.xls) renommé en .xlsx")
    if not data.startswith(ZIP_MAGIC):
        return Anomaly.of("F01", "classeur", detail="ce n'est pas un classeur .xlsx")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
        names = {m.filename for m in members}
        if sum(m.file_size for m in members) > max_expanded_bytes:
            return Anomaly.of("F07", "classeur", detail=f"{max_expanded_bytes} octets")
        if "mimetype" in names and b"opendocument" in archive.read("mimetype"):
            return Anomaly.of("F01", "classeur", detail="c'est un classeur OpenDocument (.ods) renommé en .xlsx")
        content_types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, NotImplementedError):
        return Anomaly.of("F01", "classeur", detail="le fichier est endommagé")
    if any(n.lower().endswith("vbaproject.bin") for n in names) or b"macroEnabled" in content_types:
        return Anomaly.of("F01", "classeur", detail="il contient des macros")
    if "xl/workbook.xml" not in names:
        return Anomaly.of("F01", "classeur", detail="ce n'est pas un classeur .xlsx")
    return None


def _plain_format(fmt: str) -> str:
    """The first section of a number format without its literal text, escapes and bracketed parts."""
    return QUOTED.sub("", fmt.split(";")[0])


def is_percent(fmt: str) -> bool:
    return "%" in _plain_format(fmt)


def padding_width(fmt: str) -> int:
    """The width a zero-padding format (`00`, `0000000`) shows an integer with; 0 for any other format."""
    plain = fmt.split(";")[0].strip()
    return len(plain) if PADDING.match(plain) else 0


def is_date(fmt: str) -> bool:
    from openpyxl.styles.numbers import is_date_format

    return fmt not in ("General", "@") and is_date_format(fmt)


def number_text(value: float) -> str:
    """The shortest decimal that gives back a float (`862.35`), without exponent or trailing zeros."""
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def cell_text(value: object, column: str | None, fmt: str = "General", date1904: bool = False) -> str | None:
    """A cell as the text the record rules read: what the spreadsheet shows (formats.md §3.0, v1.2)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if fmt != "General" and fmt != "@":
            if is_percent(fmt):
                shown = Decimal(repr(float(value))) * 100
                text = format(shown.normalize(), "f")
                return text[:-2] if text.endswith(".0") else text
            if is_date(fmt):
                from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel

                moment = from_excel(float(value), MAC_EPOCH if date1904 else WINDOWS_EPOCH)
                return cell_text(moment, column)
            width = padding_width(fmt)
            if width and column in PADDED_COLUMNS and float(value).is_integer() and value >= 0:
                return str(int(value)).zfill(max(width, IDENTIFIER_WIDTH.get(column, 0)))
        if column in IDENTIFIER_WIDTH and float(value).is_integer():
            return str(int(value)).zfill(IDENTIFIER_WIDTH[column])
        return number_text(float(value))
    return str(value)


def _blank(row: Row) -> bool:
    return all(
        c.kind != NUMBER
        and c.kind != BOOLEAN
        and c.kind != UNCACHED
        and c.kind != ERROR
        and not str(c.value or "").strip()
        for c in row.cells.values()
    )


def _texts(row: Row) -> list[str]:
    """A row's cells as header names (position by position, '' for an empty cell)."""
    if not row.cells:
        return []
    width = max(row.cells) + 1
    return [str(row.cells[i].value) if i in row.cells and row.cells[i].value is not None else "" for i in range(width)]


def _find_header(book: Book, sheet: Sheet, kind: Kind) -> tuple[Row | None, list[Row]]:
    """The declaration header of a sheet within its first rows (at least half of the kind's required names)
    and the rows read to find it; (None, rows) when it has none."""
    seen: list[Row] = []
    need = (len(required(kind)) + 1) // 2
    for row in book.rows(sheet):
        if row.number > HEADER_ROWS:
            break
        seen.append(row)
        if not _blank(row) and header_score(_texts(row), kind) >= need:
            return row, seen
    return None, seen


def _other_sheet(book: Book, sheets: list[Sheet], kind: Kind) -> Sheet | None:
    """A further sheet that also holds a declaration header followed by a non-empty row."""
    for sheet in sheets:
        header, _ = _find_header(book, sheet, kind)
        if header is None:
            continue
        for row in book.rows(sheet):
            if row.number > header.number and not _blank(row):
                return sheet
    return None


def read_xlsx(data: bytes, kind: Kind, max_expanded_bytes: int) -> ReadResult:
    """The raw frame of the workbook's declaration sheet, or the anomaly that refuses it."""
    if is_blank(data):
        return refused(empty_file())
    refusal = workbook_refusal(data, max_expanded_bytes)
    if refusal is not None:
        return refused(refusal)
    try:
        book = Book(data)
    except (BookError, zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as e:
        return refused(
            Anomaly.of(
                "F01",
                "classeur",
                detail=str(e) if isinstance(e, BookError) else f"le classeur est endommagé ({type(e).__name__})",
            )
        )
    try:
        return _read_book(book, kind)
    except (BookError, zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, IndexError) as e:
        return refused(
            Anomaly.of(
                "F01",
                "classeur",
                detail=str(e) if isinstance(e, BookError) else f"le classeur est endommagé ({type(e).__name__})",
            )
        )
    finally:
        book.close()


def _read_book(book: Book, kind: Kind) -> ReadResult:
    if not book.sheets:
        return refused(Anomaly.of("F01", "classeur", detail="il ne contient aucune feuille"))
    at = 0
    header: Row | None = None
    for at, sheet in enumerate(book.sheets):
        header, _ = _find_header(book, sheet, kind)
        if header is not None:
            break
    if header is None:  # no sheet has a declaration header: the first sheet's first row, as before v1.2
        at = 0
        header = next((r for r in book.rows(book.sheets[0]) if not _blank(r)), None)
        if header is None:
            return refused(Anomaly.of("F01", "sans_enregistrement"))
    sheet = book.sheets[at]
    names = _texts(header)
    date1904 = book.date1904
    lignes: list[int] = []
    cells: list[list[str | None]] = []
    hidden: list[int] = []
    columns = [n.strip().lower() or None for n in names]
    width = len(names)
    for row in book.rows(sheet):
        if row.number <= header.number or _blank(row):
            continue
        widest = max(row.cells) + 1
        if widest > width:  # a value right of the header: an unnamed column (its letter is named)
            names += [""] * (widest - width)
            columns += [None] * (widest - width)
            for r in cells:
                r.extend([None] * (widest - width))
            width = widest
        values: list[str | None] = [None] * width
        for i, cell in row.cells.items():
            if cell.kind == UNCACHED:
                return refused(
                    Anomaly.of("F01", "formule_sans_valeur", detail=f"cellule {column_letter(i)}{row.number}")
                )
            values[i] = _shown(cell, columns[i], date1904)
        lignes.append(row.number)
        cells.append(values)
        if row.hidden:
            hidden.append(row.number)
    if not cells:
        return refused(Anomaly.of("F01", "sans_enregistrement"))
    other = _other_sheet(book, book.sheets[at + 1 :], kind)
    if other is not None:
        return refused(
            Anomaly.of("F03", "plusieurs_feuilles", detail=f"« {sheet.name} » et « {other.name} »", valeur=sheet.name)
        )
    letters = [column_letter(i) for i in range(width)]
    result = table_result(names, lignes, cells, kind, "xlsx", [], letters=letters)
    if result.blocking is not None and header.number > 1:
        a = result.blocking
        found = a.message.replace("la ligne d'en-tête", f"la ligne d'en-tête (ligne {header.number})", 1)
        return refused(replace(a, message=found, ligne=a.ligne or header.number))
    if result.frame is None:
        return result
    letter_of = {c: letters[i] for i, c in enumerate(columns) if c}
    return replace(result, hidden=tuple(hidden), letters=letter_of)


def _shown(cell: Cell, column: str | None, date1904: bool) -> str | None:
    if cell.kind == NUMBER:
        return cell_text(cell.value, column, cell.format, date1904)
    if cell.kind == BOOLEAN:
        return "VRAI" if cell.value else "FAUX"
    return None if cell.value is None else str(cell.value)
