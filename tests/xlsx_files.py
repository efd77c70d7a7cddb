"""Test helper: a declaration as a real .xlsx workbook (typed cells, as a spreadsheet saves them)."""

from __future__ import annotations

import io
from datetime import datetime

from exchange.core.rules.values import AMOUNT_COLUMNS, DATE_COLUMNS, HOURS_COLUMN, RATE_COLUMNS

NUMBERS = frozenset((*AMOUNT_COLUMNS, *RATE_COLUMNS, HOURS_COLUMN))


def typed(column: str, text: str) -> object:
    """A CSV cell as a spreadsheet would type it: dates as dates, amounts and rates as numbers."""
    if not text:
        return None
    if column in DATE_COLUMNS:
        for form in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                return datetime.strptime(text, form)
            except ValueError:
                pass
    if column in NUMBERS:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text
    return text


def workbook(
    csv_text: str, changes: dict[tuple[int, str], object] | None = None, *, sheet_rows: list[list[object]] | None = None
) -> bytes:
    """The CSV declaration as the first sheet of a workbook; `changes` puts a raw cell value at
    (row number, column); `sheet_rows` gives the rows instead of the CSV."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    lines = [line.split(";") for line in csv_text.splitlines() if line]
    header = lines[0]
    rows = (
        sheet_rows
        if sheet_rows is not None
        else [header] + [[typed(c, v) for c, v in zip(header, line)] for line in lines[1:]]
    )
    for row in rows:
        sheet.append(row)
    for (number, column), value in (changes or {}).items():
        sheet.cell(row=number, column=header.index(column) + 1, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def styled_workbook(
    csv_text: str,
    changes: dict[tuple[int, str], tuple[object, str]] | None = None,
    *,
    titles: list[str] = (),
    before: dict[str, list[list[object]]] | None = None,
    after: dict[str, list[list[object]]] | None = None,
    hidden: tuple[int, ...] = (),
    dimension: str | None = None,
) -> bytes:
    """The CSV declaration as a workbook saved the way a clerk's spreadsheet leaves it: `titles` rows above
    the header, `changes` putting (value, number format) at (record's row counted from the header = 1,
    column), sheets `before`/`after` the declaration sheet, `hidden` rows (counted like `changes`), and a
    stale `<dimension>` written over the real one."""
    import re
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in (before or {}).items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    sheet = book.create_sheet("Salariés")
    for title in titles:
        sheet.append([title] if title else [])
    offset = len(titles)
    lines = [line.split(";") for line in csv_text.splitlines() if line]
    header = lines[0]
    sheet.append(header)
    for line in lines[1:]:
        sheet.append([typed(c, v) for c, v in zip(header, line)])
    for (number, column), (value, fmt) in (changes or {}).items():
        cell = sheet.cell(row=number + offset, column=header.index(column) + 1, value=value)
        cell.number_format = fmt
    for number in hidden:
        sheet.row_dimensions[number + offset].hidden = True
    for name, rows in (after or {}).items():
        extra = book.create_sheet(name)
        for row in rows:
            extra.append(row)
    out = io.BytesIO()
    book.save(out)
    if dimension is None:
        return out.getvalue()
    src = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    stale = io.BytesIO()
    with zipfile.ZipFile(stale, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                body = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>'.encode(), body)
            dst.writestr(item, body)
    return stale.getvalue()
