"""Reading a CSV declaration (formats.md §3) into the raw frame, with its exact physical line numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from exchange.core.reading.csv_large import large_csv
from exchange.core.reading.header import header_score, match_header
from exchange.core.reading.result import WHITE_SPACE, ReadResult, raw_frame, refused
from exchange.core.reading.text import UTF8_BOM, binary_file, empty_file, is_binary, is_blank, wide_bom
from schemas.anomalies import Anomaly
from schemas.declaration import Kind, required
from schemas.fields import plural

CP1252 = "windows-1252"
# A header has 20 columns at most (plus the empty ones a spreadsheet may add): more is a flood, refused
# before any table is built (a frame of a million columns takes minutes while holding the cycle lock).
MAX_HEADER_FIELDS = 256
HEADER_LINES = 10  # a header below titles is looked for in the first 10 lines, as in a workbook (v1.2)
# A plain CSV of fewer line breaks is read in Python lists; one of more, vectorised (csv_large).
LARGE_LINES = 800
# A table as read: header fields, the physical line of each body record, and each record's fields.
Table = tuple[list[str], list[int], list[list[str]]]


def decode(data: bytes) -> tuple[str, str] | None:
    """(text, encoding): UTF-8 (with or without BOM), else Windows-1252; None when neither decodes."""
    if data.startswith(UTF8_BOM):
        try:
            return data[len(UTF8_BOM) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            data = data[len(UTF8_BOM) :]  # a BOM followed by Windows-1252 text: drop the BOM
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp1252"), CP1252
    except UnicodeDecodeError:
        return None


def physical_lines(text: str) -> list[str]:
    """The physical lines of a text (CRLF, LF or CR)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def plain_table(lines: list[str]) -> Table:
    """Header fields, then the line and fields of every body record, of the lines of a text holding no `"`.

    Fields are what lies between `;`; a record is one physical line. Plain Python: for the few hundred
    lines of a declaration, lists cost far less than polars calls.
    """
    kept = [(number, line) for number, line in enumerate(lines, start=1) if line.replace(";", "").strip(WHITE_SPACE)]
    if not kept:
        return [], [], []
    return kept[0][1].split(";"), [number for number, _ in kept[1:]], [line.split(";") for _, line in kept[1:]]


def quoted_table(text: str) -> Table | Anomaly:
    """The same for a text with quotes, through csv.reader (RFC 4180, `"` ordinary mid-field).

    A record spanning lines gets the line it starts on.
    """
    split = split_records(text)
    if isinstance(split, Anomaly):
        return split
    rows, starts = split
    if not rows:
        return [], [], []
    return rows[0], starts[1:], rows[1:]


def split_records(text: str) -> tuple[list[list[str]], list[int]] | Anomaly:
    """Every non-blank record with the physical line it starts on (RFC 4180, `;`).

    A line is blank when all its fields are empty or white space (a spreadsheet's `;;;;`).
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', doublequote=True, strict=False)
    rows: list[list[str]] = []
    starts: list[int] = []
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if "".join(row).strip():
                rows.append(row)
                starts.append(start)
    except csv.Error as e:
        return Anomaly.of("F01", "illisible", detail=f"ligne {previous + 1} : {french_csv_error(e)}")
    return rows, starts


def french_csv_error(e: csv.Error) -> str:
    """The csv module's error in words an Esat understands."""
    if "field larger than field limit" in str(e):
        return "un champ est beaucoup trop long, vérifiez les guillemets"
    return "ligne CSV illisible, vérifiez les guillemets"


def header_width(text: str) -> int:
    """The number of `;`-separated fields of the first non-blank line (an upper bound when it holds quotes)."""
    for line in io.StringIO(text, newline=None):  # lazily, line by line (CRLF, LF or CR)
        if line.replace(";", "").strip():
            return line.count(";") + 1
    return 0


def header_below(text: str, kind: Kind) -> tuple[int, str, str] | None:
    """Where a declaration header is when the file does not start with it as the format says: (its line, its
    separator, the line) for a header found below titles, or written with `,` (a spreadsheet's default CSV) —
    a row naming at least half of the kind's required columns within the first lines. None otherwise."""
    need = (len(required(kind)) + 1) // 2
    seen = 0
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):  # lazily, line by line
        if number > HEADER_LINES:
            return None
        if not line.replace(";", "").replace(",", "").strip(WHITE_SPACE):
            continue
        for separator in (";", ","):
            fields = [f.strip(WHITE_SPACE).strip('"') for f in line.split(separator)[:MAX_HEADER_FIELDS]]
            if header_score(fields, kind) >= need:
                if separator == ";" and not seen:
                    return None  # the header is the first line, as the format says
                return number, separator, line.strip(WHITE_SPACE)
        seen += 1
    return None


def read_csv(data: bytes, kind: Kind) -> ReadResult:
    """The raw frame of a CSV declaration, or the blocking anomaly that refuses it."""
    if is_blank(data):
        return refused(empty_file())
    if (wide := wide_bom(data)) is not None:
        return refused(Anomaly.of("F01", "illisible", detail=f"encodé en {wide[:6].upper()}, enregistrez-le en UTF-8"))
    if is_binary(data):
        return refused(binary_file())
    decoded = decode(data)
    if decoded is None:
        return refused(Anomaly.of("F01", "illisible", detail="ni UTF-8 ni Windows-1252"))
    text, encoding = decoded
    notes = [Anomaly.of("W07")] if encoding == CP1252 else []
    if (width := header_width(text)) > MAX_HEADER_FIELDS:
        return refused(
            Anomaly.of("F03", "colonne_inconnue", detail=f"{width} colonnes (au plus {MAX_HEADER_FIELDS})"),
            encoding,
            notes,
        )
    if (below := header_below(text, kind)) is not None:  # titles above the header, or commas: say so
        line, separator, shown = below
        if separator == ",":
            detail = shown if len(shown) <= 60 else shown[:60] + "…"
            where = line if line > 1 else None
            return refused(Anomaly.of("F03", "separateur_virgule", ligne=where, detail=detail), encoding, notes)
        return refused(Anomaly.of("F03", "entete_decalee", ligne=line), encoding, notes)
    if '"' in text:
        table = quoted_table(text)
    elif max(text.count("\n"), text.count("\r")) >= LARGE_LINES:
        return large_csv(physical_lines(text), kind, encoding, notes)
    else:
        table = plain_table(physical_lines(text))
    if isinstance(table, Anomaly):
        return refused(table, encoding, notes)
    names, lignes, rows = table
    if not rows:
        return refused(Anomaly.of("F01", "sans_enregistrement"), encoding, notes)
    return table_result(names, lignes, rows, kind, encoding, notes)


def table_result(
    names: list[str],
    lignes: list[int],
    rows: Sequence[Sequence[str | None]],
    kind: Kind,
    encoding: str,
    notes: list[Anomaly],
    letters: list[str] | None = None,
) -> ReadResult:
    """The raw frame of a table (header names; each body record's line and fields), or its F03.

    Shared by the CSV and the spreadsheet readers: everything after reading is the same (formats.md §3.0);
    `letters`, for a workbook, name its columns in messages.
    """
    header = match_header(names, kind, letters)
    if isinstance(header, Anomaly):
        return refused(header, encoding, notes)
    width = len(header)
    for ligne, row in zip(lignes, rows):
        if len(row) != width:
            return refused(
                Anomaly.of(
                    "F03",
                    "nombre_champs",
                    ligne=ligne,
                    detail=f"{plural(len(row), 'champ', 'champs')} au lieu de {width}",
                ),
                encoding,
                notes,
            )
    by_position = list(zip(*rows)) if rows else [()] * width
    for i, name in enumerate(header):
        if name is None and any(v is not None and v.strip(WHITE_SPACE) for v in by_position[i]):
            where = f"colonne {letters[i]}" if letters is not None else f"colonne n° {i + 1}"
            return refused(Anomaly.of("F03", "colonne_inconnue", detail=f"{where} sans nom"), encoding, notes)
    values = {name: by_position[i] for i, name in enumerate(header) if name is not None}
    return ReadResult(frame=raw_frame(kind, lignes, values), anomalies=notes, encoding=encoding)
