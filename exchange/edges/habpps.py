"""Reading and validating a Habpps extract (.xlsx workbook or folder of CSV): every problem, with table, line and French reason."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from schemas.identifiers import siret_valid

# Table → its columns, in the spec's order (habilitations.md). Dependencies come first.
TABLES: dict[str, tuple[str, ...]] = {
    "partenaires": ("siret", "raison_sociale", "code_caf", "departement", "portee"),
    "conventions": (
        "id_convention",
        "siret",
        "statut",
        "date_debut",
        "date_fin",
        "mode_gestion",
        "date_contrat_service",
    ),
    "bulletins": ("id_bulletin", "id_convention", "service", "siret", "date_signature", "statut"),
    "groupes": ("id_groupe", "id_convention", "service", "role"),
    "utilisateurs": ("login", "siret", "id_groupe", "actif"),
}
OPTIONAL: frozenset[tuple[str, str]] = frozenset(
    {
        ("conventions", "date_fin"),
        ("conventions", "date_contrat_service"),
        ("bulletins", "date_signature"),  # required only for a SIGNE bulletin
    }
)
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("partenaires", "portee"): ("DEPARTEMENTALE", "MULTI_DEPARTEMENTALE"),
    ("conventions", "statut"): ("ACTIVE", "CLOTUREE"),
    ("conventions", "mode_gestion"): ("CENTRALISE", "DELEGUE"),
    ("bulletins", "statut"): ("SIGNE", "EN_ATTENTE", "RESILIE"),
    ("groupes", "role"): ("DECLARANT", "CONSULTANT"),
    ("utilisateurs", "actif"): ("O", "N"),
}
SIRET_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {
        ("partenaires", "siret"),
        ("conventions", "siret"),
        ("bulletins", "siret"),
        ("utilisateurs", "siret"),
    }
)
DATE_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {
        ("conventions", "date_debut"),
        ("conventions", "date_fin"),
        ("conventions", "date_contrat_service"),
        ("bulletins", "date_signature"),
    }
)
CAF_COLUMNS: frozenset[tuple[str, str]] = frozenset({("partenaires", "code_caf"), ("partenaires", "departement")})
# Longest value each text column takes (the database's column sizes).
MAX_LENGTHS: dict[str, int] = {
    "raison_sociale": 300,
    "id_convention": 100,
    "id_bulletin": 100,
    "id_groupe": 100,
    "service": 40,
    "login": 200,
}
# Numeric spreadsheet cells lose their leading zeros: width to restore, by column name.
PAD_WIDTHS: dict[str, int] = {
    "siret": 14,
    "siret_convention_mcp": 14,
    "siret_bulletin_esat": 14,
    "code_caf": 2,
    "departement": 2,
}
_ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_FR = re.compile(r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$")


@dataclass(frozen=True)
class Problem:
    """One reason the extract is refused: its table, physical line (header = 1) and French reason."""

    table: str
    ligne: int | None
    raison: str

    def __str__(self) -> str:
        where = self.table if self.ligne is None else f"{self.table}, ligne {self.ligne}"
        return f"{where} : {self.raison}"


@dataclass(frozen=True)
class RawTable:
    """A table as read: its header and its non-blank rows with their physical line numbers."""

    header: list[str]
    rows: list[tuple[int, list[str]]]


# -- identifiers and dates ------------------------------------------------------------------------


def siret_defect(value: str) -> str | None:
    """None for a valid SIRET, else 'forme' (not 14 digits) or 'cle' (check digit wrong), as R03 judges it."""
    if len(value) != 14 or not value.isascii() or not value.isdigit():
        return "forme"
    return None if siret_valid(value) else "cle"


def parse_date(value: str) -> date | None:
    """AAAA-MM-JJ or JJ/MM/AAAA → date; None when neither or not a real day."""
    try:
        if _ISO.fullmatch(value):
            return date.fromisoformat(value)
        if _FR.fullmatch(value):
            return date(int(value[6:]), int(value[3:5]), int(value[:2]))
    except ValueError:
        return None
    return None


@cache
def caf_codes() -> frozenset[str]:
    """Every Caf code of schemas/reference/caf.csv."""
    text = resources.files("schemas").joinpath("reference/caf.csv").read_text(encoding="utf-8")
    return frozenset(row["code_caf"] for row in csv.DictReader(io.StringIO(text), delimiter=";"))


# -- reading --------------------------------------------------------------------------------------


def _cell(value: object, column: str | None) -> str:
    """A spreadsheet cell as text (dates ISO, integral numbers without '.0', leading zeros restored)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        text = str(int(value)) if float(value).is_integer() else str(value)
        width = PAD_WIDTHS.get(column or "")
        return text.zfill(width) if width and text.isdigit() else text
    return str(value).strip()


def read_csv_rows(data: bytes, name: str) -> tuple[RawTable | None, str | None]:
    """A `;` CSV (UTF-8, BOM ok) → RawTable; or a French reason it cannot be read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, f"le fichier {name} n'est pas encodé en UTF-8"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    last_line = 0
    try:
        for record in reader:
            start = last_line + 1
            last_line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [c.strip().lower() for c in record]
            else:
                rows.append((start, [c.strip() for c in record]))
    except csv.Error as e:
        return None, f"le fichier {name} est mal formé ({e})"
    return RawTable(header or [], rows), None


def read_sheet_rows(rows: Iterable[tuple[object, ...]]) -> RawTable:
    """Rows of a worksheet (values only, first row = header) → RawTable with sheet row numbers."""
    header: list[str] | None = None
    out: list[tuple[int, list[str]]] = []
    for number, values in enumerate(rows, start=1):
        if header is None:
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            header = [_cell(v, None).lower() for v in values]
            while header and header[-1] == "":
                header.pop()
            continue
        cells = [_cell(v, header[i] if i < len(header) else None) for i, v in enumerate(values)]
        if not any(cells):
            continue
        while len(cells) > len(header) and cells[-1] == "":
            cells.pop()
        out.append((number, cells))
    return RawTable(header or [], out)


def _read_workbook(path: Path) -> tuple[dict[str, RawTable], list[Problem]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable workbook is a problem of the extract
        return {}, [Problem("extrait", None, f"classeur illisible ({e.__class__.__name__}) : {path.name}")]
    try:
        sheets = {name.strip().lower(): name for name in wb.sheetnames}
        raw: dict[str, RawTable] = {}
        for table in TABLES:
            if table in sheets:
                raw[table] = read_sheet_rows(wb[sheets[table]].iter_rows(values_only=True))
        return raw, []
    finally:
        wb.close()


def extract_files(path: Path) -> list[Path]:
    """The files an extract is made of: the workbook, or the folder's <table>.csv in name order."""
    if path.is_dir():
        return sorted((path / f"{t}.csv" for t in TABLES if (path / f"{t}.csv").is_file()), key=lambda p: p.name)
    return [path]


def _read_raw(path: Path) -> tuple[dict[str, RawTable], list[Problem]]:
    if path.is_dir():
        raw: dict[str, RawTable] = {}
        problems: list[Problem] = []
        for table in TABLES:
            file = path / f"{table}.csv"
            if not file.is_file():
                continue
            parsed, error = read_csv_rows(file.read_bytes(), file.name)
            if error:
                problems.append(Problem(table, None, error))
            else:
                raw[table] = parsed  # type: ignore[assignment]
        return raw, problems
    if not path.exists():
        return {}, [Problem("extrait", None, f"chemin introuvable : {path}")]
    if path.suffix.lower() != ".xlsx":
        return {}, [
            Problem("extrait", None, "l'extrait doit être un classeur .xlsx ou un dossier de fichiers <table>.csv")
        ]
    return _read_workbook(path)


# -- validation -----------------------------------------------------------------------------------


def _check_header(table: str, raw: RawTable) -> list[Problem]:
    problems: list[Problem] = []
    if not raw.header:
        return [Problem(table, 1, "ligne d'en-tête absente (colonnes attendues : " + ", ".join(TABLES[table]) + ")")]
    seen: set[str] = set()
    for col in raw.header:
        if col in seen:
            problems.append(Problem(table, 1, f"colonne en double : {col or '(sans nom)'}"))
        seen.add(col)
        if col not in TABLES[table]:
            problems.append(Problem(table, 1, f"colonne inconnue : {col or '(sans nom)'}"))
    for col in TABLES[table]:
        if col not in seen:
            problems.append(Problem(table, 1, f"colonne obligatoire absente : {col}"))
    return problems


def _check_value(table: str, col: str, value: str) -> tuple[object, str | None]:
    """The typed value of one cell, or a French reason it is wrong."""
    if value == "":
        return None, None if (table, col) in OPTIONAL else f"{col} : valeur obligatoire manquante"
    if (table, col) in ENUMS:
        allowed = ENUMS[(table, col)]
        if value not in allowed:
            return None, f"{col} : valeur « {value} » inconnue (valeurs admises : {', '.join(allowed)})"
    if (table, col) in SIRET_COLUMNS:
        defect = siret_defect(value)
        if defect == "forme":
            return None, f"{col} : SIRET « {value} » mal formé (14 chiffres attendus)"
        if defect == "cle":
            return None, f"{col} : SIRET « {value} » invalide (chiffre de contrôle faux)"
    if (table, col) in DATE_COLUMNS:
        parsed = parse_date(value)
        if parsed is None:
            return None, f"{col} : date « {value} » invalide (AAAA-MM-JJ ou JJ/MM/AAAA attendu)"
        return parsed, None
    if (table, col) in CAF_COLUMNS and value not in caf_codes():
        return None, f"{col} : code « {value} » inconnu (département de la Caf attendu : 01 à 95, 2A, 2B, 971 à 976)"
    limit = MAX_LENGTHS.get(col)
    if limit and len(value) > limit:
        return None, f"{col} : valeur trop longue ({len(value)} caractères, au plus {limit})"
    return value, None


def _check_rows(table: str, raw: RawTable) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """Typed rows (line, values) and the problems of each cell."""
    problems: list[Problem] = []
    good: list[tuple[int, dict[str, Any]]] = []
    width = len(raw.header)
    for line, cells in raw.rows:
        if len(cells) != width:
            problems.append(
                Problem(
                    table,
                    line,
                    f"nombre de champs ({len(cells)}) différent de celui "
                    f"de l'en-tête ({width}) : vérifiez les séparateurs « ; »",
                )
            )
            continue
        row: dict[str, object] = {}
        ok = True
        for col, value in zip(raw.header, cells):
            typed, reason = _check_value(table, col, value)
            if reason:
                problems.append(Problem(table, line, reason))
                ok = False
            row[col] = typed
        dated = table == "conventions" and row.get("date_debut") and row.get("date_fin")
        if dated and row["date_fin"] < row["date_debut"]:  # type: ignore[operator]
            problems.append(
                Problem(
                    table,
                    line,
                    f"date_fin ({row['date_fin']:%d/%m/%Y}) antérieure à date_debut ({row['date_debut']:%d/%m/%Y})",
                )
            )
            ok = False
        if (
            table == "bulletins"
            and row.get("statut") == "SIGNE"
            and dict(zip(raw.header, cells)).get("date_signature") == ""
        ):
            problems.append(Problem(table, line, "date_signature : obligatoire pour un bulletin SIGNE"))
            ok = False
        if ok:
            good.append((line, row))
    return good, problems


def _key_lines(rows: list[tuple[int, dict[str, Any]]], key: str) -> dict[str, int]:
    """First line of each value of `key` (for dangling-id checks)."""
    out: dict[str, int] = {}
    for line, row in rows:
        out.setdefault(row[key], line)
    return out


def _check_links(rows: dict[str, list[tuple[int, dict[str, Any]]]], raw: dict[str, RawTable]) -> list[Problem]:
    """Cross-table checks: duplicates, dangling ids, two ACTIVE conventions, a login under two partners."""
    problems: list[Problem] = []

    def all_values(table: str, col: str) -> set[str]:
        # ids of lines that failed their own checks still exist: do not report them dangling too
        header = raw[table].header
        if col not in header:
            return set()
        i = header.index(col)
        return {cells[i] for _, cells in raw[table].rows if i < len(cells)}

    for table, key in (
        ("partenaires", "siret"),
        ("conventions", "id_convention"),
        ("bulletins", "id_bulletin"),
        ("groupes", "id_groupe"),
    ):
        first: dict[str, int] = {}
        for line, row in rows[table]:
            if row[key] in first:
                problems.append(Problem(table, line, f"{key} « {row[key]} » en double (déjà ligne {first[row[key]]})"))
            else:
                first[row[key]] = line
    seen_membership: dict[tuple[str, str], int] = {}
    for line, row in rows["utilisateurs"]:
        k = (row["login"], row["id_groupe"])
        if k in seen_membership:
            problems.append(
                Problem(
                    "utilisateurs",
                    line,
                    f"login « {k[0]} » déjà rattaché au groupe « {k[1]} » (ligne {seen_membership[k]})",
                )
            )
        else:
            seen_membership[k] = line

    links = (
        ("conventions", "siret", "partenaires", "siret", "partenaire"),
        ("bulletins", "id_convention", "conventions", "id_convention", "convention"),
        ("groupes", "id_convention", "conventions", "id_convention", "convention"),
        ("utilisateurs", "id_groupe", "groupes", "id_groupe", "groupe"),
        ("utilisateurs", "siret", "partenaires", "siret", "partenaire"),
    )
    for table, col, target, target_col, what in links:
        known = all_values(target, target_col)
        for line, row in rows[table]:
            if row[col] not in known:
                problems.append(
                    Problem(table, line, f"{col} « {row[col]} » : {what} inconnu(e) dans la table {target}")
                )

    active: dict[str, int] = {}
    for line, row in rows["conventions"]:
        if row["statut"] != "ACTIVE":
            continue
        if row["siret"] in active:
            problems.append(
                Problem(
                    "conventions",
                    line,
                    f"deuxième convention ACTIVE pour le SIRET {row['siret']} "
                    f"(déjà ligne {active[row['siret']]}) : un partenaire n'a "
                    "qu'une convention active à la fois",
                )
            )
        else:
            active[row["siret"]] = line

    partner_of: dict[str, tuple[str, int]] = {}
    for line, row in rows["utilisateurs"]:
        login, siret = row["login"], row["siret"]
        if login in partner_of and partner_of[login][0] != siret:
            other, other_line = partner_of[login]
            problems.append(
                Problem(
                    "utilisateurs",
                    line,
                    f"login « {login} » rattaché à deux partenaires ({other} ligne {other_line}, {siret})",
                )
            )
        else:
            partner_of.setdefault(login, (siret, line))
    return problems


def _frame(table: str, rows: list[tuple[int, dict[str, Any]]]) -> pl.DataFrame:
    schema = {c: (pl.Date() if (table, c) in DATE_COLUMNS else pl.String()) for c in TABLES[table]}
    return pl.DataFrame([{c: row[c] for c in TABLES[table]} for _, row in rows], schema=schema, orient="row")


def read_extract(path: Path) -> tuple[dict[str, pl.DataFrame] | None, list[Problem]]:
    """The five tables (dates typed, other columns text), or None with every problem found."""
    path = Path(path)
    raw, problems = _read_raw(path)
    if problems and not raw:
        return None, problems
    rows: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for table in TABLES:
        if table not in raw:
            if not any(p.table == table for p in problems):
                where = f"feuille « {table} »" if path.suffix.lower() == ".xlsx" else f"fichier {table}.csv"
                problems.append(Problem(table, None, f"table absente de l'extrait ({where} attendu)"))
            rows[table] = []
            continue
        header_problems = _check_header(table, raw[table])
        problems.extend(header_problems)
        if header_problems:
            rows[table] = []
            continue
        rows[table], row_problems = _check_rows(table, raw[table])
        problems.extend(row_problems)
    if all(t in raw and not any(p.table == t and p.ligne == 1 for p in problems) for t in TABLES):
        problems.extend(_check_links(rows, raw))
    if problems:
        order = {t: i for i, t in enumerate(TABLES)}
        problems.sort(key=lambda p: (order.get(p.table, -1), p.ligne or 0))
        return None, problems
    return {t: _frame(t, rows[t]) for t in TABLES}, []
