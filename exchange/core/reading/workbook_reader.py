"""Reading a spreadsheet declaration (`.xlsx` or `.ods`, formats.md §3.0): guarded, then the declaration sheet of
the workbook model read as the clerk sees it (formats applied, merged ranges in each cell, every stored row, hidden
rows flagged), within bounds, and through the CSV table rules."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

from exchange.core.reading.csv_reader import MAX_HEADER_FIELDS, table_result
from exchange.core.reading.header import header_score
from exchange.core.reading.number_format import cell_text
from exchange.core.reading.ods_book import OdsBook
from exchange.core.reading.result import ReadResult, refused
from exchange.core.reading.text import empty_file, is_blank
from exchange.core.reading.workbook import (
    BOOLEAN,
    ERROR,
    NUMBER,
    UNCACHED,
    BookError,
    BookTooLarge,
    Bounds,
    Cell,
    Row,
    Sheet,
    Workbook,
    column_letter,
)
from exchange.core.reading.xlsx_book import XlsxBook
from schemas.anomalies import Anomaly
from schemas.declaration import Kind, required

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: .xls, or an .xlsx encrypted with a password
ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")
ODS_MIMETYPES = (
    b"application/vnd.oasis.opendocument.spreadsheet",
    b"application/vnd.oasis.opendocument.spreadsheet-template",
)
HEADER_ROWS = 10  # the declaration header is looked for in a sheet's first 10 rows (v1.2)
BROKEN = (BookError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError, EOFError, IndexError)


def _ole_refusal(data: bytes, extension: str) -> Anomaly:
    if ENCRYPTED_MARK in data:
        return Anomaly.of("F01", "classeur", detail="il est protégé par un mot de passe")
    return Anomaly.of("F01", "classeur", detail=f"c'est un classeur Excel 97-2003 (.xls) renommé en .{extension}")


def workbook_refusal(data: bytes, extension: str, bounds: Bounds) -> Anomaly | None:
    """F01 for what is not a plain workbook of its extension (an .xls, the other format, a password, macros,
    a broken archive), F07 for an archive that says it expands beyond the bound; None when it may be opened."""
    if data.startswith(OLE_MAGIC):
        return _ole_refusal(data, extension)
    not_one = Anomaly.of("F01", "classeur", detail=f"ce n'est pas un classeur .{extension}")
    if not data.startswith(ZIP_MAGIC):
        return not_one
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
        names = {m.filename for m in members}
        if sum(m.file_size for m in members) > bounds.inflated_bytes:
            return Anomaly.of("F07", "classeur", detail=f"{bounds.inflated_bytes} octets")
        mimetype = archive.read("mimetype")[:200].strip() if "mimetype" in names else b""
        content_types = archive.read("[Content_Types].xml")[: 1 << 20] if "[Content_Types].xml" in names else b""
        manifest = archive.read("META-INF/manifest.xml")[: 1 << 20] if "META-INF/manifest.xml" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, NotImplementedError):
        return Anomaly.of("F01", "classeur", detail="le fichier est endommagé")
    opendocument = mimetype in ODS_MIMETYPES
    if extension == "xlsx":
        if opendocument:
            return Anomaly.of("F01", "classeur", detail="c'est un classeur OpenDocument (.ods) renommé en .xlsx")
        if any(n.lower().endswith("vbaproject.bin") for n in names) or b"macroEnabled" in content_types:
            return Anomaly.of("F01", "classeur", detail="il contient des macros")
        return None if "xl/workbook.xml" in names else not_one
    if "xl/workbook.xml" in names:
        return Anomaly.of("F01", "classeur", detail="c'est un classeur Excel (.xlsx) renommé en .ods")
    if not opendocument or "content.xml" not in names:
        return not_one
    if b"encryption-data" in manifest:
        return Anomaly.of("F01", "classeur", detail="il est protégé par un mot de passe")
    if any(n.startswith(("Basic/", "Scripts/")) and not n.endswith("/") for n in names):
        return Anomaly.of("F01", "classeur", detail="il contient des macros")
    return None


def too_large(e: BookTooLarge) -> Anomaly:
    return Anomaly.of("F07", e.variant, detail=e.detail)


def read_workbook(data: bytes, kind: Kind, extension: str, bounds: Bounds, max_records: int) -> ReadResult:
    """The raw frame of the workbook's declaration sheet, or the anomaly that refuses it."""
    if is_blank(data):
        return refused(empty_file())
    refusal = workbook_refusal(data, extension, bounds)
    if refusal is not None:
        return refused(refusal)
    try:
        book: Workbook = XlsxBook(data, bounds) if extension == "xlsx" else OdsBook(data, bounds)
    except BookTooLarge as e:
        return refused(too_large(e))
    except BROKEN as e:
        return refused(_broken(e))
    try:
        return _read_book(book, kind, max_records)
    except BookTooLarge as e:
        return refused(too_large(e))
    except BROKEN as e:
        return refused(_broken(e))
    finally:
        book.close()


def read_xlsx(data: bytes, kind: Kind, max_expanded_bytes: int, max_records: int = 100_000) -> ReadResult:
    """An .xlsx declaration (the bound on what it inflates to given directly, the others from it)."""
    return read_workbook(data, kind, "xlsx", Bounds.of(max_expanded_bytes // 20, max_records), max_records)


def _broken(e: Exception) -> Anomaly:
    detail = str(e) if isinstance(e, BookError) else f"le classeur est endommagé ({type(e).__name__})"
    return Anomaly.of("F01", "classeur", detail=detail)


def _blank(row: Row) -> bool:
    return all(
        c.kind not in (NUMBER, BOOLEAN, UNCACHED, ERROR) and not str(c.value or "").strip() for c in row.cells.values()
    )


def _texts(row: Row) -> list[str]:
    """A row's cells as header names (position by position, '' for an empty cell)."""
    if not row.cells:
        return []
    width = min(max(row.cells) + 1, MAX_HEADER_FIELDS + 1)
    return [str(row.cells[i].value) if i in row.cells and row.cells[i].value is not None else "" for i in range(width)]


def _find_header(book: Workbook, sheet: Sheet, kind: Kind) -> Row | None:
    """The declaration header of a sheet within its first rows (at least half of the kind's required names)."""
    need = (len(required(kind)) + 1) // 2
    for row in book.rows(sheet):
        if row.number > HEADER_ROWS:
            break
        if not _blank(row) and header_score(_texts(row), kind) >= need:
            return row
    return None


def _other_sheet(book: Workbook, sheets: list[Sheet], kind: Kind) -> Sheet | None:
    """A further sheet that also holds a declaration header followed by a non-empty row."""
    for sheet in sheets:
        header = _find_header(book, sheet, kind)
        if header is None:
            continue
        for row in book.rows(sheet):
            if row.number > header.number and not _blank(row):
                return sheet
    return None


def _read_book(book: Workbook, kind: Kind, max_records: int) -> ReadResult:
    if not book.sheets:
        return refused(Anomaly.of("F01", "classeur", detail="il ne contient aucune feuille"))
    at = 0
    header: Row | None = None
    for index, sheet in enumerate(book.sheets):
        header = _find_header(book, sheet, kind)
        if header is not None:
            at = index
            break
    if header is None:  # no sheet has a declaration header: the first sheet's first row, as before v1.2
        at = 0
        header = next((r for r in book.rows(book.sheets[0]) if not _blank(r)), None)
        if header is None:
            return refused(Anomaly.of("F01", "sans_enregistrement"))
    sheet = book.sheets[at]
    names = _texts(header)
    if len(names) > MAX_HEADER_FIELDS:
        return refused(
            Anomaly.of(
                "F03", "colonne_inconnue", detail=f"{max(header.cells) + 1} colonnes (au plus {MAX_HEADER_FIELDS})"
            )
        )
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
        if widest > MAX_HEADER_FIELDS:  # far right of any declaration: refused before a row that wide is built
            return refused(
                Anomaly.of("F03", "colonne_inconnue", detail=f"colonne {column_letter(widest - 1)} sans nom")
            )
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
            values[i] = shown(cell, columns[i], date1904)
        lignes.append(row.number)
        cells.append(values)
        if len(lignes) > max_records:  # as soon as it is seen (v1.3), not after the whole sheet is held
            return refused(Anomaly.of("F07", "enregistrements", detail=f"plus de {max_records}"))
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
    return replace(result, hidden=tuple(hidden), letters=letter_of, header_line=header.number)


def shown(cell: Cell, column: str | None, date1904: bool) -> str | None:
    """A cell of the model as the text the record rules read: what the spreadsheet shows."""
    if cell.kind == NUMBER:
        return cell_text(cell.value, column, cell.format, date1904)
    if cell.kind == BOOLEAN:
        return "VRAI" if cell.value else "FAUX"
    return None if cell.value is None else str(cell.value)
