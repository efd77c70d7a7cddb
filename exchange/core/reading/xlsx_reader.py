"""Reading a spreadsheet declaration (`.xlsx`, formats.md §3.0): guarded, then its first sheet as the CSV table."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from decimal import Decimal

from exchange.core.reading.csv_reader import table_result
from exchange.core.reading.result import ReadResult, refused
from exchange.core.reading.text import empty_file, is_blank
from schemas.anomalies import Anomaly
from schemas.declaration import Kind

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: .xls, or an .xlsx encrypted with a password
ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")
EXPANSION_FACTOR = 20  # an archive expanding beyond max_file_bytes × 20 is refused (F07) before it is opened
# Identifiers typed as numbers read as their integer digits, left-padded to the field's length (§3.0).
IDENTIFIER_WIDTH: dict[str, int] = {"siret_esat": 14, "siret_employeur_mo": 14, "finess_esat": 9,
                                    "nir": 0, "numero_allocataire": 0}


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


def cell_text(value: object, column: str | None) -> str | None:
    """A typed cell as the text the record rules read (formats.md §3.0)."""
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
        if column in IDENTIFIER_WIDTH and float(value).is_integer():
            return str(int(value)).zfill(IDENTIFIER_WIDTH[column])
        if isinstance(value, int) or value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")  # the shortest decimal that gives back the value
    return str(value)


def read_xlsx(data: bytes, kind: Kind, max_expanded_bytes: int) -> ReadResult:
    """The raw frame of the workbook's first sheet, or the anomaly that refuses it."""
    if is_blank(data):
        return refused(empty_file())
    refusal = workbook_refusal(data, max_expanded_bytes)
    if refusal is not None:
        return refused(refusal)
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - openpyxl raises many kinds for a broken workbook
        return refused(Anomaly.of("F01", "classeur", detail=f"le classeur est endommagé ({type(e).__name__})"))
    try:
        sheet = book.worksheets[0]
        header: list[str] | None = None
        columns: list[str | None] = []
        lignes: list[int] = []
        cells: list[list[str | None]] = []
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=sheet.min_row or 1):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            if header is None:
                header = ["" if v is None else str(v) for v in row]
                columns = [h.strip().lower() or None for h in header]
                continue
            values = list(row)[:len(header)] + [None] * max(0, len(header) - len(row))
            overflow = [v for v in list(row)[len(header):] if v not in (None, "")]
            if overflow:
                values.append(overflow[0])
            lignes.append(number)
            cells.append([cell_text(v, columns[i] if i < len(columns) else None) for i, v in enumerate(values)])
    except Exception as e:  # noqa: BLE001
        return refused(Anomaly.of("F01", "classeur", detail=f"le classeur est endommagé ({type(e).__name__})"))
    finally:
        book.close()
    if header is None or not cells:
        return refused(Anomaly.of("F01", "sans_enregistrement"))
    return table_result(header, lignes, cells, kind, "xlsx", [])
