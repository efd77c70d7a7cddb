"""Test helper: a sheet model written as an OpenDocument spreadsheet the way LibreOffice Calc saves one (data styles,
typed values with their display text, formulas with their results, merged ranges with covered cells, hidden rows,
repeated empty rows and cells, a million trailing empty rows)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from xml.sax.saxutils import escape, quoteattr

NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" office:version="1.3"'
)
EMPTY_TEXT = object()  # a formula whose result is empty text (=SI(…;"";…))
# A cell: (value, number format code as in the .xlsx, formula?) — value a str, float, int, datetime or EMPTY_TEXT.
Cell = tuple[object, str, bool]


class Styles:
    """The data styles and cell styles the sheet needs, one per format code."""

    def __init__(self) -> None:
        self.by_format: dict[str, str] = {}
        self.xml: list[str] = []

    def of(self, fmt: str) -> str | None:
        if fmt == "General":
            return None
        if fmt in self.by_format:
            return self.by_format[fmt]
        n = len(self.by_format)
        data, cell = f"N{n}", f"ce{n}"
        self.xml.append(_data_style(data, fmt))
        self.xml.append(f'<style:style style:name="{cell}" style:family="table-cell" style:data-style-name="{data}"/>')
        self.by_format[fmt] = cell
        return cell


def _data_style(name: str, fmt: str) -> str:
    plain = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", fmt).strip()
    if fmt == "@":
        return f'<number:text-style style:name="{name}"><number:text-content/></number:text-style>'
    if "%" in plain:
        places = len(plain.split(".")[1].rstrip("%")) if "." in plain else 0
        return (
            f'<number:percentage-style style:name="{name}"><number:number number:decimal-places="{places}" '
            f'number:min-decimal-places="{places}" number:min-integer-digits="1"/><number:text>%</number:text>'
            "</number:percentage-style>"
        )
    if re.fullmatch(r"0+", plain):
        return (
            f'<number:number-style style:name="{name}"><number:number number:decimal-places="0" '
            f'number:min-decimal-places="0" number:min-integer-digits="{len(plain)}"/></number:number-style>'
        )
    if any(ch in plain for ch in "dmy"):
        return (
            f'<number:date-style style:name="{name}"><number:day number:style="long"/><number:text>/</number:text>'
            '<number:month number:style="long"/><number:text>/</number:text><number:year number:style="long"/>'
            "</number:date-style>"
        )
    places = len(plain.split(".")[1].split()[0]) if "." in plain else 0
    grouping = ' number:grouping="true"' if "," in plain else ""
    return (
        f'<number:number-style style:name="{name}"><number:number number:decimal-places="{places}" '
        f'number:min-decimal-places="{places}" number:min-integer-digits="1"{grouping}/></number:number-style>'
    )


def _cell_xml(cell: Cell | None, styles: Styles, span: int = 1) -> str:
    if cell is None:
        return "<table:table-cell/>"
    value, fmt, formula = cell
    style = styles.of(fmt)
    attrs = f' table:style-name="{style}"' if style else ""
    if span > 1:
        attrs += f' table:number-rows-spanned="{span}" table:number-columns-spanned="1"'
    if value is EMPTY_TEXT:
        return f'<table:table-cell{attrs} table:formula="of:=IF(1=0;&quot;x&quot;;&quot;&quot;)"><text:p/></table:table-cell>'
    if formula:
        attrs += ' table:formula="of:=1+0"' if not isinstance(value, str) else ' table:formula="of:=T(&quot;x&quot;)"'
    if isinstance(value, datetime | date):
        day = value.date() if isinstance(value, datetime) else value
        shown = day.strftime("%d/%m/%Y")
        return (
            f'<table:table-cell{attrs} office:value-type="date" office:date-value="{day.isoformat()}">'
            f"<text:p>{shown}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        kind = "percentage" if "%" in fmt else "float"
        return (
            f'<table:table-cell{attrs} office:value-type="{kind}" office:value="{float(value)!r}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    text = str(value)
    string_value = f" office:string-value={quoteattr(text)}" if formula else ""
    return (
        f'<table:table-cell{attrs} office:value-type="string"{string_value}>'
        f"<text:p>{escape(text)}</text:p></table:table-cell>"
    )


def ods_workbook(
    sheets: list[tuple[str, dict[int, tuple[bool, dict[int, Cell]]], list[tuple[int, int, int]]]],
) -> bytes:
    """Sheets of (name, {row number: (hidden, {column index: cell})}, merges [(first row, last row, column)])."""
    styles = Styles()
    tables = []
    for name, rows, merges in sheets:
        covered = {(r, col) for first, last, col in merges for r in range(first + 1, last + 1)}
        spans = {(first, col): last - first + 1 for first, last, col in merges}
        width = max((max(cells) + 1 for _, cells in rows.values() if cells), default=1)
        body = [f'<table:table-column table:number-columns-repeated="{width}"/>']
        at = 0
        for number in sorted(rows):
            if number - at > 1:
                body.append(
                    f'<table:table-row table:number-rows-repeated="{number - at - 1}">'
                    '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
                )
            hidden, cells = rows[number]
            xml = []
            empty = 0
            for col in range(width):
                if (number, col) in covered:
                    if empty:
                        xml.append(f'<table:table-cell table:number-columns-repeated="{empty}"/>')
                        empty = 0
                    xml.append("<table:covered-table-cell/>")
                    continue
                cell = cells.get(col)
                if cell is None:
                    empty += 1
                    continue
                if empty:
                    xml.append(f'<table:table-cell table:number-columns-repeated="{empty}"/>')
                    empty = 0
                xml.append(_cell_xml(cell, styles, spans.get((number, col), 1)))
            xml.append(f'<table:table-cell table:number-columns-repeated="{1024 - width + empty}"/>')
            visibility = ' table:visibility="collapse"' if hidden else ""
            body.append(f"<table:table-row{visibility}>{''.join(xml)}</table:table-row>")
            at = number
        body.append(
            f'<table:table-row table:number-rows-repeated="{1048576 - at}">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        )
        tables.append(f"<table:table table:name={quoteattr(name)}>{''.join(body)}</table:table>")
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}>'
        f"<office:automatic-styles>{''.join(styles.xml)}</office:automatic-styles>"
        f"<office:body><office:spreadsheet>{''.join(tables)}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return out.getvalue()
