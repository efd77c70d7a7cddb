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


def workbook(csv_text: str, changes: dict[tuple[int, str], object] | None = None, *,
             sheet_rows: list[list[object]] | None = None) -> bytes:
    """The CSV declaration as the first sheet of a workbook; `changes` puts a raw cell value at
    (row number, column); `sheet_rows` gives the rows instead of the CSV."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    lines = [line.split(";") for line in csv_text.splitlines() if line]
    header = lines[0]
    rows = sheet_rows if sheet_rows is not None else [header] + [
        [typed(c, v) for c, v in zip(header, line)] for line in lines[1:]]
    for row in rows:
        sheet.append(row)
    for (number, column), value in (changes or {}).items():
        sheet.cell(row=number, column=header.index(column) + 1, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
