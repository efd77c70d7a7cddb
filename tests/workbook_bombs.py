"""Test helper: hostile workbooks a few hundred KB big that claim or expand to far more (issue 28, item 1), each
written streaming so that making one never holds its expanded size in memory."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XLSX_PARTS = {
    "[Content_Types].xml": b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
    "_rels/.rels": (
        f'<Relationships xmlns="{REL}"><Relationship Id="rId1" Type="{DOC_REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ).encode(),
    "xl/workbook.xml": (
        f'<workbook xmlns="{MAIN}" xmlns:r="{DOC_REL}"><sheets><sheet name="Salariés" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    ).encode(),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{REL}"><Relationship Id="rId1" Type="{DOC_REL}/worksheet" '
        f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{DOC_REL}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    ).encode(),
}
SHEET_HEAD = f'<worksheet xmlns="{MAIN}"><sheetData>'.encode()
SHEET_TAIL = b"</sheetData></worksheet>"
ONE_CELL_SHEET = SHEET_HEAD + b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + SHEET_TAIL
ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def _package(parts: dict[str, Iterator[bytes] | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, body in parts.items():
            if name == "mimetype":
                z.writestr(zipfile.ZipInfo("mimetype"), body, compress_type=zipfile.ZIP_STORED)
                continue
            with z.open(name, "w", force_zip64=True) as member:
                for piece in [body] if isinstance(body, bytes) else body:
                    member.write(piece)
    return out.getvalue()


def _repeat(head: bytes, item: bytes, times: int, tail: bytes, batch: int = 10_000) -> Iterator[bytes]:
    yield head
    done = 0
    while done < times:
        n = min(batch, times - done)
        yield item * n
        done += n
    yield tail


def shared_strings_bomb(entries: int = 1_100_000, size: int = 93) -> bytes:
    """An .xlsx whose xl/sharedStrings.xml expands to about entries × (size + 17) bytes (102 MB by default)."""
    strings = _repeat(f'<sst xmlns="{MAIN}">'.encode(), b"<si><t>" + b"A" * size + b"</t></si>", entries, b"</sst>")
    return _package({**XLSX_PARTS, "xl/sharedStrings.xml": strings, "xl/worksheets/sheet1.xml": ONE_CELL_SHEET})


def tiny_strings_bomb(entries: int = 3_000_000) -> bytes:
    """An .xlsx whose shared-string table holds millions of one-letter strings."""
    return shared_strings_bomb(entries, 1)


def empty_cells_bomb(rows: int = 300, per_row: int = 16_000) -> bytes:
    """An .xlsx whose sheet stores millions of empty (styled) cells."""
    sheet = _repeat(SHEET_HEAD, b"<row>" + b'<c s="0"/>' * per_row + b"</row>", rows, SHEET_TAIL, batch=10)
    return _package({**XLSX_PARTS, "xl/worksheets/sheet1.xml": sheet})


def ods_repeated_cells_bomb() -> bytes:
    """An .ods of a few KB whose one filled cell is repeated across 16,384 columns and a million rows."""
    content = (
        f"<office:document-content {ODS_NS}><office:body><office:spreadsheet>"
        '<table:table table:name="Salariés"><table:table-row table:number-rows-repeated="1048576">'
        '<table:table-cell table:number-columns-repeated="16384" office:value-type="string">'
        "<text:p>x</text:p></table:table-cell></table:table-row></table:table>"
        "</office:spreadsheet></office:body></office:document-content>"
    ).encode()
    return _package({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": content})


def ods_tiny_cells_bomb(rows: int = 150_000, per_row: int = 20) -> bytes:
    """An .ods whose content.xml holds millions of one-letter cells, written one by one, 20 a row."""
    cell = b'<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'
    head = (
        f'<office:document-content {ODS_NS}><office:body><office:spreadsheet><table:table table:name="Salariés">'
    ).encode()
    tail = b"</table:table></office:spreadsheet></office:body></office:document-content>"
    content = _repeat(head, b"<table:table-row>" + cell * per_row + b"</table:table-row>", rows, tail, batch=1000)
    return _package({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": content})


BOMBS = {
    "xlsx-shared-strings-102MB": ("xlsx", shared_strings_bomb),
    "xlsx-millions-of-tiny-strings": ("xlsx", tiny_strings_bomb),
    "xlsx-millions-of-empty-cells": ("xlsx", empty_cells_bomb),
    "ods-repeated-cell": ("ods", ods_repeated_cells_bomb),
    "ods-millions-of-tiny-cells": ("ods", ods_tiny_cells_bomb),
}


def overlapping_merges_bomb(rows: int = 50_000, merges: int = 200_000) -> bytes:
    """An .xlsx whose rows are all covered by the same range listed 200,000 times (quadratic if each row walked
    every range: 10^10 steps)."""
    header = b"<row>" + b'<c t="inlineStr"><is><t>siret_esat</t></is></c>' + b"</row>"
    record = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    ref = f'<mergeCell ref="A2:A{rows + 1}"/>'.encode()
    sheet = _repeat(
        SHEET_HEAD + header,
        record,
        rows,
        b"</sheetData><mergeCells>" + ref * merges + b"</mergeCells></worksheet>",
        batch=10_000,
    )
    return _package({**XLSX_PARTS, "xl/worksheets/sheet1.xml": sheet})


BOMBS["xlsx-overlapping-merges"] = ("xlsx", overlapping_merges_bomb)


def many_sheets_bomb(sheets: int = 100, rows: int = 10, per_row: int = 16_000) -> bytes:
    """An .xlsx of 100 sheets whose first ten rows are each 16,000 empty cells: under one sheet's bound, but the
    header is looked for on every sheet (16 million cells in all)."""
    entries = "".join(f'<sheet name="F{i}" sheetId="{i + 1}" r:id="rId{i + 10}"/>' for i in range(sheets))
    rels = "".join(
        f'<Relationship Id="rId{i + 10}" Type="{DOC_REL}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
        for i in range(sheets)
    )
    parts: dict[str, Iterator[bytes] | bytes] = {
        **XLSX_PARTS,
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{DOC_REL}"><sheets>{entries}</sheets></workbook>'.encode(),
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{REL}">{rels}</Relationships>'.encode(),
    }
    for i in range(sheets):
        parts[f"xl/worksheets/sheet{i + 1}.xml"] = _repeat(
            SHEET_HEAD, b"<row>" + b'<c s="0"/>' * per_row + b"</row>", rows, SHEET_TAIL, batch=10
        )
    return _package(parts)


BOMBS["xlsx-many-sheets-of-empty-cells"] = ("xlsx", many_sheets_bomb)
