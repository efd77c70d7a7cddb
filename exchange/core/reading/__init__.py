"""Reading a declaration file (CSV, XLSX, ODS or XML) into one raw frame of strings, with its file-level anomalies."""

from __future__ import annotations

from exchange.core.reading.csv_reader import read_csv
from exchange.core.reading.result import ReadResult
from exchange.core.reading.workbook import Bounds
from exchange.core.reading.workbook_reader import read_workbook
from exchange.core.reading.xml_reader import read_xml
from schemas.declaration import FileName


def read_declaration(
    data: bytes, name: FileName, max_file_bytes: int = 52_428_800, max_records: int = 100_000
) -> ReadResult:
    """The raw records of a received file, by the extension and kind of its (parsed) name; a workbook is read
    within the bounds of formats.md §3.0 (Bounds.of: inflated bytes, cells, shared strings)."""
    if name.extension == "xml":
        return read_xml(data, name.kind)
    if name.extension in ("xlsx", "ods"):
        bounds = Bounds.of(max_file_bytes, max_records)
        return read_workbook(data, name.kind, name.extension, bounds, max_records)
    return read_csv(data, name.kind)


__all__ = ["ReadResult", "read_declaration"]
