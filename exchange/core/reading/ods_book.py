"""The .ods package (OpenDocument) read into the workbook model, streaming: tables in order, rows as stored
(hidden flag, repeated rows and cells), each cell's value, type and number format, merged ranges."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from xml.sax.saxutils import unescape as xml_unescape

from exchange.core.reading.workbook import (
    BOOLEAN,
    ERROR,
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    NUMBER,
    TEXT,
    UNCACHED,
    BookError,
    BookTooLarge,
    Bounds,
    Cell,
    CellCount,
    Merge,
    MergeFill,
    Row,
    Sheet,
    local,
    member_chunks,
    parse_streamed,
)

OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
NUMBER_NS = "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
CALCEXT = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
# A table's start tag and its name (`<table:table table:name="Feuille1" …>`), whatever the prefix; every
# repetition bounded, so no crafted run of unclosed tags makes the scan quadratic.
TABLE_START = re.compile(
    rb"<(?:[A-Za-z_][\w.-]{0,64}:)?table\s(?:[^>]{0,2048}?\s)?(?:[A-Za-z_][\w.-]{0,64}:)?name=\"([^\"]{0,1024})\""
)
DATA_STYLES = {
    "number-style",
    "percentage-style",
    "currency-style",
    "date-style",
    "time-style",
    "boolean-style",
    "text-style",
}
MAX_REPEAT = 1 << 20  # a sheet has at most 1,048,576 rows: larger repeat counts are junk
# Tags and attribute names, built once (the content target meets millions of them).
T_TABLE, T_ROW, T_COLUMN = f"{{{TABLE}}}table", f"{{{TABLE}}}table-row", f"{{{TABLE}}}table-column"
T_CELL, T_COVERED = f"{{{TABLE}}}table-cell", f"{{{TABLE}}}covered-table-cell"
T_NOTE, T_P, T_H = f"{{{OFFICE}}}annotation", f"{{{TEXT_NS}}}p", f"{{{TEXT_NS}}}h"
T_S, T_TAB, T_BREAK = f"{{{TEXT_NS}}}s", f"{{{TEXT_NS}}}tab", f"{{{TEXT_NS}}}line-break"
STYLE_PREFIXES = (f"{{{NUMBER_NS}}}", f"{{{STYLE}}}")
A_REPEAT_COLS, A_REPEAT_ROWS = f"{{{TABLE}}}number-columns-repeated", f"{{{TABLE}}}number-rows-repeated"
A_SPAN_ROWS, A_SPAN_COLS = f"{{{TABLE}}}number-rows-spanned", f"{{{TABLE}}}number-columns-spanned"
A_STYLE, A_DEFAULT_STYLE = f"{{{TABLE}}}style-name", f"{{{TABLE}}}default-cell-style-name"
A_VISIBILITY, A_FORMULA = f"{{{TABLE}}}visibility", f"{{{TABLE}}}formula"
A_VALUE_TYPE, A_VALUE = f"{{{OFFICE}}}value-type", f"{{{OFFICE}}}value"
A_DATE, A_BOOLEAN, A_STRING = f"{{{OFFICE}}}date-value", f"{{{OFFICE}}}boolean-value", f"{{{OFFICE}}}string-value"
A_CALC_TYPE, A_C = f"{{{CALCEXT}}}value-type", f"{{{TEXT_NS}}}c"


def _a(attrib: dict[str, str], ns: str, name: str) -> str | None:
    return attrib.get(f"{{{ns}}}{name}")


def _count(text: str | None) -> int:
    try:
        return min(max(int(text or 1), 1), MAX_REPEAT)
    except ValueError:
        return 1


class Styles:
    """Cell styles (their data style and parent) and data styles (their kind, number element and maps),
    turned into the number format code the model's rules read: `0%`, `00`, `@`, `0.00` or `General`."""

    def __init__(self) -> None:
        self.cell_styles: dict[str, tuple[str | None, str | None]] = {}
        self.data_styles: dict[str, dict[str, object]] = {}
        self.current: dict[str, object] | None = None
        self.cache: dict[str | None, str] = {}

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.cache.clear()
        name = local(tag)
        if tag.startswith(f"{{{NUMBER_NS}}}") and name in DATA_STYLES:
            self.current = {"kind": name, "maps": []}
            self.data_styles[_a(attrib, STYLE, "name") or ""] = self.current
        elif self.current is not None and tag == f"{{{NUMBER_NS}}}number":
            self.current["number"] = dict(attrib)
        elif self.current is not None and tag == f"{{{STYLE}}}map":
            maps = self.current["maps"]
            assert isinstance(maps, list)
            maps.append(_a(attrib, STYLE, "apply-style-name"))
        elif tag == f"{{{STYLE}}}style" and _a(attrib, STYLE, "family") == "table-cell":
            self.cell_styles[_a(attrib, STYLE, "name") or ""] = (
                _a(attrib, STYLE, "data-style-name"),
                _a(attrib, STYLE, "parent-style-name"),
            )

    def end(self, tag: str) -> None:
        if tag.startswith(f"{{{NUMBER_NS}}}") and local(tag) in DATA_STYLES:
            self.current = None

    def format_of(self, cell_style: str | None) -> str:
        if cell_style in self.cache:
            return self.cache[cell_style]
        found = self.cache[cell_style] = self._format_of(cell_style)
        return found

    def _format_of(self, cell_style: str | None) -> str:
        seen: set[str] = set()
        while cell_style and cell_style not in seen:
            seen.add(cell_style)
            data, parent = self.cell_styles.get(cell_style, (None, None))
            if data:
                return self._data_format(data, set())
            cell_style = parent
        return "General"

    def _data_format(self, name: str, seen: set[str]) -> str:
        style = self.data_styles.get(name)
        if style is None or name in seen:
            return "General"
        seen.add(name)
        kind = style["kind"]
        number = style.get("number")
        places = number.get(f"{{{NUMBER_NS}}}decimal-places") if isinstance(number, dict) else None
        if kind == "percentage-style":
            return "0." + "0" * int(places) + "%" if places and places.isdigit() and places != "0" else "0%"
        if kind == "text-style":
            return "@"
        if kind != "number-style":
            return "General"
        if not isinstance(number, dict):  # a conditional format: its first mapped style
            maps = style["maps"]
            return self._data_format(maps[0], seen) if isinstance(maps, list) and maps and maps[0] else "General"
        digits = number.get(f"{{{NUMBER_NS}}}min-integer-digits") or "1"
        grouping = number.get(f"{{{NUMBER_NS}}}grouping") == "true"
        if places is None:
            return "General"
        width = int(digits) if digits.isdigit() else 1
        if places == "0" and width >= 2 and not grouping:
            return "0" * min(width, 64)
        return "0." + "0" * min(int(places), 30) if places.isdigit() and places != "0" else "0"


class StylesTarget:
    """Parser target filling Styles from styles.xml or content.xml's automatic styles."""

    def __init__(self, styles: Styles) -> None:
        self.styles = styles

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.styles.start(tag, attrib)

    def end(self, tag: str) -> None:
        self.styles.end(tag)

    def data(self, text: str) -> None:
        return None

    def close(self) -> None:
        return None

    def drain(self) -> list[Row]:
        return []


class ContentTarget:
    """Parser target turning one table of content.xml into rows of the model (no tree): repeated rows and
    cells expanded only when they hold something, spans given to the merge filler."""

    def __init__(self, styles: Styles, wanted: int, count: CellCount, fill: MergeFill) -> None:
        self.styles = styles
        self.wanted = wanted
        self.count = count
        self.fill = fill
        self.done: list[Row] = []
        self.table = -1
        self.depth_cell = 0  # > 0 inside a cell (a sub-table there is not a sheet)
        self.in_table = False
        self.finished = False
        self.row_number = 0
        self.row: Row | None = None
        self.row_repeat = 1
        self.row_style: str | None = None
        self.col = 0
        self.columns: list[tuple[int, int, str | None]] = []  # (first, last, default cell style)
        self.column_at = 0
        self.cell: dict[str, str] | None = None
        self.covered = False
        self.paragraphs: list[list[str]] = []
        self.size = 0
        self.in_p = 0
        self.in_note = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if self.cell is not None:
            if tag == T_NOTE:
                self.in_note += 1
            elif self.in_note:
                return
            elif tag in (T_P, T_H):
                self.in_p += 1
                self.paragraphs.append([])
            elif self.in_p and tag == T_S:
                self._text(" " * _count(attrib.get(A_C)))
            elif self.in_p and tag == T_TAB:
                self._text("\t")
            elif self.in_p and tag == T_BREAK:
                self._text("\n")
            elif tag == T_TABLE:
                self.depth_cell += 1
            return
        if tag in (T_CELL, T_COVERED):
            count = self.count  # a table before the one read is parsed too: its cells are counted
            count.seen += 1
            if count.seen > count.limit:
                count.add(0)
            if self.in_table and self.row is not None:
                self.cell = attrib
                self.covered = tag == T_COVERED
                self.paragraphs = []
                self.size = 0
            return
        if tag == T_ROW:
            if self.in_table:
                self.row_repeat = _count(attrib.get(A_REPEAT_ROWS))
                self.row_style = attrib.get(A_DEFAULT_STYLE)
                self.row = Row(self.row_number + 1, attrib.get(A_VISIBILITY) in ("collapse", "filter"), {})
                self.col = 0
            return
        if tag.startswith(STYLE_PREFIXES):
            self.styles.start(tag, attrib)
        elif tag == T_TABLE:
            self.table += 1
            self.in_table = self.table == self.wanted
        elif tag == T_COLUMN and self.in_table:
            n = _count(attrib.get(A_REPEAT_COLS))
            if self.column_at < MAX_COLUMNS:
                self.columns.append((self.column_at, self.column_at + n - 1, attrib.get(A_DEFAULT_STYLE)))
            self.column_at += n

    def _text(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_CELL_CHARS:
            raise BookTooLarge("textes", f"un texte de plus de {MAX_CELL_CHARS} caractères")
        self.paragraphs[-1].append(text)

    def data(self, text: str) -> None:
        if self.cell is not None and self.in_p and not self.in_note and not self.depth_cell:
            self._text(text)

    def end(self, tag: str) -> None:
        if self.cell is not None:
            if self.depth_cell:  # inside a sub-table of a cell: only its end matters
                self.depth_cell -= tag == T_TABLE
            elif tag in (T_CELL, T_COVERED):
                self._end_cell()
            elif tag == T_NOTE:
                self.in_note -= 1
            elif (tag in (T_P, T_H)) and not self.in_note:
                self.in_p -= 1
            return
        if tag == T_ROW:
            if self.in_table and self.row is not None:
                self._end_row()
        elif tag == T_TABLE:
            if self.in_table:
                self.in_table = False
                self.finished = True
        elif tag.startswith(STYLE_PREFIXES):
            self.styles.end(tag)

    def _end_cell(self) -> None:
        attrib, self.cell = self.cell or {}, None
        assert self.row is not None
        repeat = _count(attrib.get(A_REPEAT_COLS)) if A_REPEAT_COLS in attrib else 1
        cell = None if self.covered else self._cell(attrib)
        if cell is not None:
            rows = _count(attrib.get(A_SPAN_ROWS)) if A_SPAN_ROWS in attrib else 1
            cols = _count(attrib.get(A_SPAN_COLS)) if A_SPAN_COLS in attrib else 1
            for i in range(repeat):
                at = self.col + i
                if at >= MAX_COLUMNS:
                    raise BookError("une cellule est au-delà de la dernière colonne")
                self.row.cells[at] = cell
                if rows > 1 or cols > 1:
                    self.fill.add(Merge(self.row.number, at, self.row.number + rows - 1, at + cols - 1))
            self.count.add(repeat - 1)
        self.col += repeat

    def _end_row(self) -> None:
        row, self.row = self.row, None
        assert row is not None
        repeat = self.row_repeat
        if not row.cells:
            # Empty rows (Calc writes a million of them as one repeated row) cost nothing, but the merge filler
            # still sees one of them, so a range covering them is read in the later rows.
            self.row_number += repeat
            return
        for i in range(repeat):
            copy = Row(row.number + i, row.hidden, dict(row.cells)) if i else row
            if i:
                self.count.add(len(row.cells))
            self.done.append(self.fill.fill(copy))
        self.row_number += repeat

    def _cell(self, attrib: dict[str, str]) -> Cell | None:
        style = attrib.get(A_STYLE) or self.row_style or self._column_style()
        fmt = self.styles.format_of(style)
        kind = attrib.get(A_VALUE_TYPE)
        formula = A_FORMULA in attrib
        paragraphs = self.paragraphs
        shown = "".join(paragraphs[0]) if len(paragraphs) == 1 else "\n".join("".join(p) for p in paragraphs)
        if attrib.get(A_CALC_TYPE) == "error":
            return Cell(ERROR, shown or "#N/A", fmt)
        if kind in ("float", "percentage", "currency"):
            raw = attrib.get(A_VALUE)
            if raw is None and formula:
                return Cell(UNCACHED, None, fmt)  # a typed result with no value: never computed
            try:
                value = float(raw or "")
            except ValueError:
                return Cell(TEXT, shown, fmt) if shown else None
            return Cell(NUMBER, value, "0%" if kind == "percentage" and fmt == "General" else fmt)
        if kind == "date":
            day = attrib.get(A_DATE) or ""
            return Cell(TEXT, day[:10], fmt) if day else None
        if kind == "boolean":
            return Cell(BOOLEAN, attrib.get(A_BOOLEAN) == "true", fmt)
        if kind == "string":
            text = attrib.get(A_STRING)
            text = shown if text is None else text
            return Cell(TEXT, text, fmt) if text else None  # a formula's empty text is an empty cell (v1.3)
        # No value type: an empty cell, or a formula whose result is empty text (Calc writes `=SI(…;"";…)` so).
        return Cell(TEXT, shown, fmt) if shown else None

    def _column_style(self) -> str | None:
        for first, last, style in self.columns:
            if first <= self.col <= last:
                return style
        return None

    def close(self) -> None:
        return None

    def drain(self) -> list[Row]:
        done, self.done = self.done, []
        return done


class OdsBook:
    """An opened .ods package: its tables in order and their data styles."""

    date1904 = False

    def __init__(self, data: bytes, bounds: Bounds) -> None:
        self.bounds = bounds
        self.archive = zipfile.ZipFile(io.BytesIO(data))
        self.names = set(self.archive.namelist())
        if "content.xml" not in self.names:
            raise BookError("il lui manque la partie content.xml")
        self.styles = Styles()
        if "styles.xml" in self.names:
            chunks = member_chunks(self.archive, "styles.xml", bounds)
            for _ in parse_streamed(chunks, StylesTarget(self.styles), "sa partie styles.xml"):
                pass
        self.sheets = [Sheet(name, str(i)) for i, name in enumerate(self._table_names())]

    def _table_names(self) -> list[str]:
        """The tables' names, by one streamed scan of content.xml's start tags."""
        names: list[str] = []
        tail = b""
        for chunk in member_chunks(self.archive, "content.xml", self.bounds):
            text = tail + chunk
            limit = max(len(text) - 4096, 0)
            for m in TABLE_START.finditer(text):
                if m.start() >= limit:
                    break
                names.append(xml_unescape(m.group(1).decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"}))
            tail = text[limit:]
        names += [
            xml_unescape(m.group(1).decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"})
            for m in TABLE_START.finditer(tail)
        ]
        return names

    def close(self) -> None:
        self.archive.close()

    def rows(self, sheet: Sheet) -> Iterator[Row]:
        """The stored rows of a table in order, repeated rows expanded, merged ranges read in each cell."""
        count = CellCount(self.bounds, sheet.name)
        styles = Styles()
        styles.cell_styles.update(self.styles.cell_styles)
        styles.data_styles.update(self.styles.data_styles)
        target = ContentTarget(styles, int(sheet.member), count, MergeFill(count))
        try:
            yield from parse_streamed(
                member_chunks(self.archive, "content.xml", self.bounds), target, f"sa feuille « {sheet.name} »"
            )
        finally:
            count.close()
