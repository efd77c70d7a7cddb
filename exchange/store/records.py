"""History across files: W05 (a newer RG record replaces an accepted one), W06 (a CA event seen before),
and storing the accepted records that the Caf outputs are built from.

A batch of files is stored in rounds: each round holds at most one file per (kind, SIRET), so that the
files of one round never see one another and are joined, matched and inserted together; a later file
of the same Esat goes in a later round and sees what the earlier one stored, as one by one would.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl
from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection

from exchange.store.bulk import insert_frame
from exchange.store.tables import files, records
from schemas.anomalies import ANOMALY_SCHEMA
from schemas.catalogue import rule
from exchange.core.clock import french_moment

# typed column (Decimal) → stored integer hundredths
CENT_COLUMNS = {
    "taux_activite_esat": "taux_activite_esat_c",
    "remuneration_garantie_nette": "remuneration_garantie_nette_c",
    "part_financee_esat_nette": "part_financee_esat_nette_c",
    "aide_au_poste_nette": "aide_au_poste_nette_c",
    "heures_hebdo_mo": "heures_hebdo_mo_c",
    "salaire_net_mo": "salaire_net_mo_c",
    "taux_activite_avant": "taux_activite_avant_c",
    "taux_activite_apres": "taux_activite_apres_c",
}
CHUNK = 5000
FILE, QUERY_SIRET = "__file", "__siret"  # helper columns: the record's file, the SIRET its file is matched on
CA_KEY = ["nir", "type_changement", "date_effet"]


@dataclass(frozen=True)
class Accepted:
    """One judged file whose accepted records are to be stored."""

    file_id: int
    kind: str  # RG / CA
    typed: pl.DataFrame  # typed records with `rejete`
    received_at: datetime  # as read from the ledger (naive = UTC)
    name: str
    caf_gestionnaire: str | None


def _history_anomalies(matched: pl.DataFrame, accepted: pl.DataFrame, code: str, field: str) -> pl.DataFrame:
    """W05/W06 rows (with FILE) for the matched records (FILE, `ligne`, `nir`, `earlier_name`, `earlier_at`):
    the earlier file is named by its file name and reception time, as the Esat knows it (never by a ledger id)."""
    r = rule(code)
    schema = {FILE: pl.Int64(), **ANOMALY_SCHEMA}
    if matched.height == 0:
        return pl.DataFrame(schema=schema)
    message = pl.concat_str([pl.col("earlier_name") if name == "valeur" else pl.col("earlier_at") if name == "detail"
                             else pl.lit(text) for name, text in r.pieces()])
    return matched.join(accepted.select(FILE, "ligne", "nom", "prenoms"), on=[FILE, "ligne"], how="left").select(
        pl.col(FILE).cast(pl.Int64),
        pl.col("ligne").cast(pl.Int64),
        pl.col("nir"),
        pl.lit(code).alias("code"),
        pl.lit(r.severity).alias("gravite"),
        pl.lit(field).alias("champ"),
        message.alias("message"),
        pl.col("nom"), pl.col("prenoms"),
    ).cast(schema)


def _with_moment(rows: list, at: int, keep: bool = True) -> list[tuple]:
    """Rows with their reception datetime (column `at`) followed (keep) or replaced by the French text a
    message shows."""
    return [(*r[:at + (1 if keep else 0)], french_moment(r[at]), *r[at + 1:]) for r in rows]


def _utc_naive(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def _accepted_frame(items: list[Accepted]) -> pl.DataFrame:
    """The accepted records of files of one kind, each with its file's id (FILE), reception time, Caf, name
    and the SIRET its file is matched on (that of its first accepted record): one frame, built with a
    handful of polars calls whatever the number of files."""
    typed = pl.concat([it.typed for it in items], how="diagonal_relaxed")
    owner = pl.Series(FILE, [it.file_id for it in items for _ in range(it.typed.height)], dtype=pl.Int64)
    per_file = pl.DataFrame({
        FILE: [it.file_id for it in items],
        "received_at": [_utc_naive(it.received_at) for it in items],
        "caf_gestionnaire": [it.caf_gestionnaire for it in items],
        "__name": [it.name for it in items],
        "__at": [french_moment(it.received_at) for it in items],
    }, schema={FILE: pl.Int64, "received_at": pl.Datetime("us"), "caf_gestionnaire": pl.String,
               "__name": pl.String, "__at": pl.String})
    return (typed.drop([c for c in per_file.columns if c in typed.columns and c != FILE])
            .with_columns(owner).filter(~pl.col("rejete"))
            .with_columns(pl.col("siret_esat").first().over(FILE).cast(pl.String).alias(QUERY_SIRET))
            .join(per_file, on=FILE, how="left", maintain_order="left"))


def _db_frame(accepted: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The `records` rows of accepted typed records (`replaces_id` included when the frame has it)."""
    cols = [c for c in accepted.columns if c in records.c and c not in ("id", "file_id", "kind", "superseded")]
    return accepted.with_columns(
        (pl.col(src) * 100).cast(pl.Int64).alias(dst) for src, dst in CENT_COLUMNS.items() if src in accepted.columns
    ).select(
        *cols, *[dst for src, dst in CENT_COLUMNS.items() if src in accepted.columns],
        pl.col(FILE).alias("file_id"), pl.lit(kind).alias("kind"),
        (pl.col("superseded") if "superseded" in accepted.columns else pl.lit(False)).alias("superseded"),
    )


def _chunks(values: list, size: int = CHUNK) -> list[list]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def _store_rg(conn: Connection, accepted: pl.DataFrame) -> pl.DataFrame:
    """An RG round: supersede what each record replaces (W05), insert the records; the W05 anomalies."""
    sirets = accepted[QUERY_SIRET].unique().to_list()
    years = accepted["annee_reference"].unique().to_list()
    found: list = []
    for part in _chunks(sirets, 500):
        found += conn.execute(select(records.c.id, records.c.nir, records.c.file_id, records.c.annee_reference,
                                     files.c.received_at, files.c.name, records.c.received_at, records.c.siret_esat)
                              .join(files, files.c.id == records.c.file_id).where(and_(
            records.c.kind == "RG", records.c.siret_esat.in_(part), records.c.annee_reference.in_(years),
            records.c.superseded.is_(False),
        ))).all()
    existing = pl.DataFrame(
        _with_moment(found, 4),
        schema={"old_id": pl.Int64, "nir": pl.String, "earlier_file": pl.Int64, "annee_reference": pl.Int32,
                "earlier_received": pl.Datetime("us"), "earlier_at": pl.String, "earlier_name": pl.String,
                "old_received_at": pl.Datetime("us"), QUERY_SIRET: pl.String},
        orient="row",
    )
    matched = accepted.select(FILE, "ligne", "nir", QUERY_SIRET, pl.col("annee_reference").cast(pl.Int32),
                              pl.col("received_at").alias("mine")).join(
        existing, on=[QUERY_SIRET, "nir", "annee_reference"], how="inner")
    # « latest wins » by reception order: a replayed file never replaces what a later file brought
    later = pl.col("old_received_at").dt.replace_time_zone(None)
    newer = matched.filter((later > pl.col("mine")) | ((later == pl.col("mine")) & (pl.col("earlier_file") > pl.col(FILE))))
    matched = matched.join(newer.select(FILE, "ligne"), on=[FILE, "ligne"], how="anti")
    extra = _history_anomalies(matched, accepted, "W05", "nir")
    for part in _chunks(matched["old_id"].to_list()):
        conn.execute(update(records).where(records.c.id.in_(part)).values(superseded=True))
    with_replaced = accepted.join(
        matched.select(FILE, "ligne", pl.col("old_id").alias("replaces_id")), on=[FILE, "ligne"], how="left",
        maintain_order="left",
    ).join(
        newer.select(FILE, "ligne", pl.lit(True).alias("superseded")), on=[FILE, "ligne"], how="left",
        maintain_order="left",
    ).with_columns(pl.col("superseded").fill_null(False))
    insert_frame(conn, records, _db_frame(with_replaced, "RG"))
    return extra


def _store_ca(conn: Connection, accepted: pl.DataFrame) -> pl.DataFrame:
    """A CA round: an event seen before (earlier file, or earlier in the same file) is a W06 repeat and is
    not stored; the others are inserted. The W06 anomalies."""
    sirets = accepted[QUERY_SIRET].unique().to_list()
    found: list = []
    for part in _chunks(sirets, 500):
        found += conn.execute(select(records.c.nir, records.c.type_changement, records.c.date_effet,
                                     records.c.file_id, files.c.received_at, files.c.name, records.c.siret_esat)
                              .join(files, files.c.id == records.c.file_id)
                              .where(and_(records.c.kind == "CA", records.c.siret_esat.in_(part)))
                              .order_by(records.c.id)).all()
    existing = pl.DataFrame(
        _with_moment(found, 4, keep=False),
        schema={"nir": pl.String, "type_changement": pl.String, "date_effet": pl.Date, "earlier_file": pl.Int64,
                "earlier_at": pl.String, "earlier_name": pl.String, QUERY_SIRET: pl.String},
        orient="row",
    ).unique(subset=[QUERY_SIRET, *CA_KEY], keep="first", maintain_order=True)
    seen_before = accepted.select(FILE, "ligne", QUERY_SIRET, *CA_KEY).join(
        existing, on=[QUERY_SIRET, *CA_KEY], how="inner").drop(QUERY_SIRET)
    # the same event twice in one file: the first occurrence is kept, later ones are repeats
    firsts = accepted.sort(FILE, "ligne").unique(subset=[FILE, *CA_KEY], keep="first", maintain_order=True)
    repeats = accepted.join(firsts.select(FILE, "ligne"), on=[FILE, "ligne"], how="anti").select(
        FILE, "ligne", *CA_KEY, pl.col(FILE).alias("earlier_file"),
        pl.col("__at").alias("earlier_at"), pl.col("__name").alias("earlier_name"))
    matched = (pl.concat([seen_before, repeats], how="vertical_relaxed")
               .unique(subset=[FILE, "ligne"], keep="first").sort(FILE, "ligne"))
    extra = _history_anomalies(matched, accepted, "W06", "type_changement")
    fresh = accepted.join(matched.select(FILE, "ligne"), on=[FILE, "ligne"], how="anti")
    insert_frame(conn, records, _db_frame(fresh, "CA"))
    return extra


def _rounds(accepted: pl.DataFrame, kind: str) -> list[pl.DataFrame]:
    """The accepted records of one kind in rounds, each with at most one file per SIRET (its first accepted
    record's), files in batch order."""
    files_in_order = accepted.select(FILE, QUERY_SIRET).unique(subset=FILE, keep="first", maintain_order=True)
    rounds: list[list[int]] = []
    depth: dict[str, int] = {}
    for file_id, siret in files_in_order.iter_rows():
        n = depth.get(siret, 0)
        depth[siret] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(file_id)
    if len(rounds) == 1:
        return [accepted]
    return [accepted.filter(pl.col(FILE).is_in(ids)) for ids in rounds]


def record_accepted(conn: Connection, items: list[Accepted]) -> dict[int, pl.DataFrame]:
    """Store the accepted records of many files (in batch order), applying W05/W06; each file's W05/W06
    anomalies (only files that have some)."""
    extra: dict[int, pl.DataFrame] = {}
    for kind in ("RG", "CA"):
        members = [it for it in items if it.kind == kind]
        if not members:
            continue
        accepted = _accepted_frame(members)
        if accepted.height == 0:
            continue
        for round_frame in _rounds(accepted, kind):
            found = _store_rg(conn, round_frame) if kind == "RG" else _store_ca(conn, round_frame)
            for (file_id,), part in found.partition_by(FILE, as_dict=True, include_key=False).items():
                extra[int(file_id)] = part
    return extra
