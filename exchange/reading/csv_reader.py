"""Reading a CSV declaration (formats.md §3) into the raw frame, with its exact physical line numbers."""
from __future__ import annotations

import csv
import io

import polars as pl

from exchange.reading.result import ReadResult, raw_frame, refused
from exchange.reading.text import UTF8_BOM, binary_file, empty_file, is_binary, is_blank, wide_bom
from schemas.anomalies import Anomaly
from schemas.declaration import Kind, columns, required
from schemas.fields import plural

CP1252 = "windows-1252"
# A header has 20 columns at most (plus the empty ones a spreadsheet may add): more is a flood, refused
# before any table is built (a frame of a million columns takes minutes while holding the cycle lock).
MAX_HEADER_FIELDS = 256


def decode(data: bytes) -> tuple[str, str] | None:
    """(text, encoding): UTF-8 (with or without BOM), else Windows-1252; None when neither decodes."""
    if data.startswith(UTF8_BOM):
        try:
            return data[len(UTF8_BOM):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            data = data[len(UTF8_BOM):]  # a BOM followed by Windows-1252 text: drop the BOM
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp1252"), CP1252
    except UnicodeDecodeError:
        return None


def plain_table(text: str) -> tuple[list[str], pl.DataFrame]:
    """Header fields and body cells of a text holding no `"`: fields are what lies between `;`.

    Vectorised with polars; a record is one physical line (CRLF, LF or CR).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    df = (pl.DataFrame({"texte": lines}, schema={"texte": pl.String()})
          .with_row_index("ligne", offset=1).with_columns(pl.col("ligne").cast(pl.Int64))
          .filter(pl.col("texte").str.replace_all(";", "", literal=True).str.strip_chars() != ""))
    if df.height == 0:
        return [], df
    header = df["texte"][0].split(";")
    body = df.slice(1).with_columns(pl.col("texte").str.split(";").alias("champs")).select(
        "ligne", pl.col("champs").list.len().cast(pl.Int64).alias("n"),
        *[pl.col("champs").list.get(i, null_on_oob=True).alias(f"c{i}") for i in range(len(header))],
    )
    return header, body


def quoted_table(text: str) -> tuple[list[str], pl.DataFrame] | Anomaly:
    """The same for a text with quotes, through csv.reader (RFC 4180, `"` ordinary mid-field).

    A record spanning lines gets the line it starts on. When some record's field count differs
    from the header's, the cells are left null (the file is refused on that count anyway).
    """
    split = split_records(text)
    if isinstance(split, Anomaly):
        return split
    rows, starts = split
    if not rows:
        return [], pl.DataFrame()
    header, body = rows[0], rows[1:]
    width = len(header)
    counts = [len(r) for r in body]
    cells: dict[str, object] = {"ligne": starts[1:], "n": counts}
    regular = all(c == width for c in counts)
    by_position = list(zip(*body)) if regular and body else [()] * width
    for i in range(width):
        cells[f"c{i}"] = list(by_position[i]) if regular and body else [None] * len(body)
    schema = {"ligne": pl.Int64(), "n": pl.Int64(), **{f"c{i}": pl.String() for i in range(width)}}
    return header, pl.DataFrame(cells, schema=schema)


def split_records(text: str) -> tuple[list[list[str]], list[int]] | Anomaly:
    """Every non-blank record with the physical line it starts on (RFC 4180, `;`).

    A line is blank when all its fields are empty or white space (a spreadsheet's `;;;;`).
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"',
                        doublequote=True, strict=False)
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


def match_header(header: list[str], kind: Kind) -> list[str | None] | Anomaly:
    """The column each header position holds (None: an unnamed position), or the F03 to report.

    Checked in this order, one anomaly only: unknown names (a typo shows up as one unknown and one
    missing name, and the unknown one tells what to correct), repeated names, missing required names.
    """
    known = columns(kind)
    names = [h.strip().lower() for h in header]
    if len(names) == 1 and "," in names[0] and any(n.strip() in known for n in names[0].split(",")):
        shown = header[0].strip()
        return Anomaly.of("F03", "separateur_virgule", detail=shown if len(shown) <= 60 else shown[:60] + "…")
    unknown = [h.strip() for h, n in zip(header, names) if n and n not in known]
    if unknown and not any(n in known for n in names):  # a forgotten header: never quote that record
        return Anomaly.of("F03", "entete_absente")
    if unknown:
        return Anomaly.of("F03", "colonne_inconnue", detail=quoted_names(unknown))
    seen: set[str] = set()
    doubles = [n for n in names if n and (n in seen or seen.add(n))]
    if doubles:
        return Anomaly.of("F03", "colonne_double", detail=", ".join(dict.fromkeys(doubles)))
    missing = [c for c in known if c in required(kind) and c not in seen]
    if missing:
        return Anomaly.of("F03", "colonne_manquante", detail=", ".join(missing))
    return [n or None for n in names]


def header_width(text: str) -> int:
    """The number of `;`-separated fields of the first non-blank line (an upper bound when it holds quotes)."""
    for line in io.StringIO(text, newline=None):  # lazily, line by line (CRLF, LF or CR)
        if line.replace(";", "").strip():
            return line.count(";") + 1
    return 0


def quoted_names(names: list[str], most: int = 5, longest: int = 40) -> str:
    """Header names as a message quotes them: at most `most`, each cut at `longest` characters."""
    shown = [n if len(n) <= longest else n[:longest] + "…" for n in names[:most]]
    return ", ".join(shown) + (f"… ({len(names)} en tout)" if len(names) > most else "")


def read_csv(data: bytes, kind: Kind) -> ReadResult:
    """The raw frame of a CSV declaration, or the blocking anomaly that refuses it."""
    if is_blank(data):
        return refused(empty_file())
    if (wide := wide_bom(data)) is not None:
        return refused(Anomaly.of("F01", "illisible", detail=f"encodé en {wide[:6].upper()}, "
                                  "enregistrez-le en UTF-8"))
    if is_binary(data):
        return refused(binary_file())
    decoded = decode(data)
    if decoded is None:
        return refused(Anomaly.of("F01", "illisible", detail="ni UTF-8 ni Windows-1252"))
    text, encoding = decoded
    notes = [Anomaly.of("W07")] if encoding == CP1252 else []
    if (width := header_width(text)) > MAX_HEADER_FIELDS:
        return refused(Anomaly.of("F03", "colonne_inconnue", detail=f"{width} colonnes (au plus {MAX_HEADER_FIELDS})"),
                       encoding, notes)
    table = quoted_table(text) if '"' in text else plain_table(text)
    if isinstance(table, Anomaly):
        return refused(table, encoding, notes)
    names, body = table
    if body.height == 0:
        return refused(Anomaly.of("F01", "sans_enregistrement"), encoding, notes)
    return table_result(names, body, kind, encoding, notes)


def table_result(names: list[str], body: pl.DataFrame, kind: Kind, encoding: str,
                 notes: list[Anomaly]) -> ReadResult:
    """The raw frame of a table (header names; body with `ligne`, `n` fields, cells `c0`…), or its F03.

    Shared by the CSV and the spreadsheet readers: everything after reading is the same (formats.md §3.0).
    """
    header = match_header(names, kind)
    if isinstance(header, Anomaly):
        return refused(header, encoding, notes)
    width = len(header)
    wrong = body.filter(pl.col("n") != width).head(1)
    if wrong.height:
        return refused(Anomaly.of("F03", "nombre_champs", ligne=wrong["ligne"][0],
                                  detail=f"{plural(int(wrong['n'][0]), 'champ', 'champs')} au lieu de {width}"),
                       encoding, notes)
    for i, name in enumerate(header):
        if name is None and body[f"c{i}"].str.strip_chars().fill_null("").ne("").any():
            return refused(Anomaly.of("F03", "colonne_inconnue", detail=f"colonne n° {i + 1} sans nom"),
                           encoding, notes)
    values = {name: body[f"c{i}"] for i, name in enumerate(header) if name is not None}
    return ReadResult(frame=raw_frame(kind, body["ligne"], values), anomalies=notes, encoding=encoding)
