"""The Habtiers → MCP migration report: each partner's use case (IT 2025-061 §5), the Caf's actions and alerts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from exchange.edges.durable import write_atomic
from exchange.edges.habpps import RawTable, read_csv_rows, read_sheet_rows, siret_defect
from exchange.errors import TerminalError

COLUMNS: tuple[str, ...] = (
    "siret",
    "raison_sociale",
    "connu_mcp",
    "connu_habtiers",
    "actif_habtiers",
    "siret_convention_mcp",
    "siret_bulletin_esat",
)
REPORT_COLUMNS: tuple[str, ...] = ("siret", "raison_sociale", "cas", "actions", "alertes")
SEPARATOR = " | "
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The Caf's actions per use case, in the instruction's words (IT 2025-061 §2 and §5).
ACTIONS: dict[str, tuple[str, ...]] = {
    "1": (
        "Suivre le processus de conventionnement d'un nouveau partenaire pour lui ouvrir les accès",
        "Faire signer les trois documents contractuels : convention d'accès (convention juridique), "
        "contrat de services et bulletin d'adhésion Esat",
        "Ouvrir le service Esat selon la contractualisation",
    ),
    "2": (
        "S'assurer que le partenaire identifié dans l'extraction Habtiers est toujours actif",
        "Formaliser les documents contractuels : convention d'accès (convention juridique), "
        "contrat de services et bulletin d'adhésion Esat",
        "Ouvrir le service selon la contractualisation",
        "Aucune action à effectuer côté Habtiers",
    ),
    "3": (
        "Faire compléter et signer uniquement le bulletin d'adhésion Esat par le partenaire",
        "Faire un avenant à la convention juridique existante pour vérifier certaines informations, "
        "notamment la mission du partenaire",
        "Ouvrir le service en fonction des informations communiquées sur le bulletin d'adhésion",
    ),
    "A_EXAMINER": (
        "Cas non prévu par l'instruction IT 2025-061 (partenaire connu dans MCP et dans Habtiers) : "
        "à examiner et décider par un agent",
    ),
}
SIRET_LABELS: dict[str, str] = {
    "siret": "SIRET du partenaire",
    "siret_convention_mcp": "SIRET de la convention MCP",
    "siret_bulletin_esat": "SIRET du bulletin d'adhésion Esat",
}


class MigrationError(TerminalError):
    """The workbook cannot be used at all (unreadable, or a column missing); the message is French."""


def _read(path: Path) -> RawTable:
    path = Path(path)
    if not path.is_file():
        raise MigrationError(f"Fichier introuvable : {path}")
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable workbook
            raise MigrationError(f"Classeur illisible ({e.__class__.__name__}) : {path.name}") from e
        try:
            return read_sheet_rows(wb.worksheets[0].iter_rows(values_only=True))
        finally:
            wb.close()
    raw, error = read_csv_rows(path.read_bytes(), path.name)
    if error:
        raise MigrationError(error[0].upper() + error[1:])
    return raw  # type: ignore[return-value]


def _flag(value: str) -> str | None:
    """O / N (case-insensitive) → 'O' / 'N'; anything else → None."""
    v = value.strip().upper()
    return v if v in ("O", "N") else None


def _case(row: dict[str, str], alerts: list[str]) -> str:
    mcp, habtiers = _flag(row["connu_mcp"]), _flag(row["connu_habtiers"])
    for col, flag in (("connu_mcp", mcp), ("connu_habtiers", habtiers)):
        if flag is None:
            alerts.append(f"Valeur de {col} illisible (« {row[col]} », O ou N attendu) : cas à examiner")
    if mcp is None or habtiers is None:
        return "A_EXAMINER"
    if mcp == "N":
        return "1" if habtiers == "N" else "2"
    return "3" if habtiers == "N" else "A_EXAMINER"


def _alerts(row: dict[str, str], alerts: list[str]) -> None:
    for col, label in SIRET_LABELS.items():
        value = row[col]
        if col != "siret" and value == "":
            continue
        defect = siret_defect(value)
        if defect == "forme":
            alerts.append(f"{label} « {value} » mal formé (14 chiffres attendus) : vérifiez-le")
        elif defect == "cle":
            alerts.append(f"{label} {value} invalide (chiffre de contrôle faux) : vérifiez-le")
    conv, bull = row["siret_convention_mcp"], row["siret_bulletin_esat"]
    if conv and bull and conv != bull:
        alerts.append(
            f"Le SIRET du bulletin d'adhésion Esat ({bull}) diffère de celui de la convention "
            f"MCP ({conv}) : il doit être le même avant l'ouverture du service"
        )
    actif = row["actif_habtiers"].strip().upper()
    if actif == "N":
        alerts.append(
            "Partenaire inactif dans Habtiers (actif_habtiers = N) : vérifiez qu'il est "
            "toujours actif avant toute contractualisation"
        )
    elif actif not in ("", "O"):
        alerts.append(f"Valeur de actif_habtiers illisible (« {row['actif_habtiers']} », O, N ou vide attendu)")


def migration_report(path: Path) -> pl.DataFrame:
    """One line per partner of the Cnaf workbook (.xlsx, first sheet, or `;` CSV): siret, raison_sociale, cas, actions, alertes."""
    raw = _read(Path(path))
    missing = [c for c in COLUMNS if c not in raw.header]
    if not raw.header or missing:
        raise MigrationError("Colonne(s) absente(s) du classeur de migration : " + ", ".join(missing or COLUMNS))
    index = {c: raw.header.index(c) for c in COLUMNS}
    lines: list[dict[str, object]] = []
    for _, cells in raw.rows:
        row = {c: (cells[i] if i < len(cells) else "") for c, i in index.items()}
        alerts: list[str] = []
        case = _case(row, alerts)
        _alerts(row, alerts)
        lines.append(
            {
                "siret": row["siret"],
                "raison_sociale": row["raison_sociale"],
                "cas": case,
                "actions": list(ACTIONS[case]),
                "alertes": alerts,
            }
        )
    return pl.DataFrame(
        lines,
        schema={
            "siret": pl.String(),
            "raison_sociale": pl.String(),
            "cas": pl.String(),
            "actions": pl.List(pl.String()),
            "alertes": pl.List(pl.String()),
        },
    )


def _guard(value: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def report_rows(report: pl.DataFrame) -> list[list[str]]:
    """The report's lines as text cells, actions and alertes joined with ' | '."""
    out: list[list[str]] = []
    for r in report.iter_rows(named=True):
        out.append(
            [
                r["siret"] or "",
                r["raison_sociale"] or "",
                r["cas"],
                SEPARATOR.join(r["actions"] or []),
                SEPARATOR.join(r["alertes"] or []),
            ]
        )
    return out


def write_migration_csv(report: pl.DataFrame, out: Path) -> None:
    """The report as CSV: UTF-8 with BOM, `;`, a header line, formula-looking cells guarded; written atomically."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=";", lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for cells in report_rows(report):
        writer.writerow([_guard(c) for c in cells])
    write_atomic(Path(out), ("\ufeff" + buf.getvalue()).encode("utf-8"))
