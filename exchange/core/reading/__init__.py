"""Reading a declaration file (CSV, XLSX or XML) into one raw frame of strings, with its file-level anomalies."""

from __future__ import annotations

from exchange.core.reading.csv_reader import read_csv
from exchange.core.reading.result import ReadResult
from exchange.core.reading.xlsx_reader import EXPANSION_FACTOR, read_xlsx
from exchange.core.reading.xml_reader import read_xml
from schemas.declaration import FileName


def read_declaration(data: bytes, name: FileName, max_file_bytes: int = 52_428_800) -> ReadResult:
    """The raw records of a received file, by the extension and kind of its (parsed) name; a workbook may
    expand to at most max_file_bytes × EXPANSION_FACTOR."""
    if name.extension == "xml":
        return read_xml(data, name.kind)
    if name.extension == "xlsx":
        return read_xlsx(data, name.kind, max_file_bytes * EXPANSION_FACTOR)
    return read_csv(data, name.kind)


__all__ = ["ReadResult", "read_declaration"]
