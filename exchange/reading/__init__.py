"""Reading a declaration file (CSV or XML) into one raw frame of strings, with its file-level anomalies."""
from __future__ import annotations

from exchange.reading.csv_reader import read_csv
from exchange.reading.result import ReadResult
from exchange.reading.xml_reader import read_xml
from schemas.declaration import FileName


def read_declaration(data: bytes, name: FileName) -> ReadResult:
    """The raw records of a received file, by the extension and kind of its (parsed) name."""
    if name.extension == "xml":
        return read_xml(data, name.kind)
    return read_csv(data, name.kind)


__all__ = ["ReadResult", "read_declaration"]
