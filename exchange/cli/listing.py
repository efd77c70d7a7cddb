"""Rendering lists for people (a table) and for tools (csv, json): one function for every listing command."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from exchange.core.clock import PARIS
from exchange.core.safe_text import safe_text, safe_value


def _cell(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return safe_text(value)
    if kind is int:  # digits and a sign: nothing to escape
        return str(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return safe_text(str(value))


def json_default(value: Any) -> str:
    """json.dumps default for tools: dates and datetimes in ISO 8601 (datetimes with their offset)."""
    return _cell(value)


def human_cell(value: Any) -> str:
    """A cell for people: dates and times in French form, times in Paris time."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return _cell(value)
    if isinstance(value, datetime):
        return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return _cell(value)


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str = "text",
    *,
    labels: dict[str, str] | None = None,
    title: str | None = None,
    empty: str = "Aucune ligne.",
) -> str:
    """rows as a French table (text), as CSV (`;`, header) or as JSON (a list of objects)."""
    if fmt == "json":
        return (
            json.dumps(
                [{c: safe_value(r.get(c)) for c in columns} for r in rows], ensure_ascii=False, indent=2, default=_cell
            )
            + "\n"
        )
    if fmt == "csv":
        from exchange.core.csv_cells import guard_text

        buf = io.StringIO()
        w = csv.writer(buf, delimiter=";", lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(
                [guard_text(safe_text(v)) if isinstance(v, str) else _cell(v) for v in (r.get(c) for c in columns)]
            )
        return buf.getvalue()
    labels = labels or {}
    if not rows:
        return (f"{title}\n" if title else "") + empty + "\n"
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(labels.get(c, c))
        for r in rows:
            table.add_row(*[escape(human_cell(r.get(c))) for c in columns])
        width = Console().width  # rich's own detection of the terminal (COLUMNS, then the tty)
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, force_terminal=True)
        console.print(table)
        return buffer.getvalue()
    heads = [labels.get(c, c) for c in columns]
    body = [[human_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)).rstrip() for b in body]
    return "\n".join(lines) + "\n"
