"""History across files: W05 (a newer RG record replaces an accepted one), W06 (a CA event seen before),
and storing the accepted records that the Caf outputs are built from."""
from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from exchange.db import files, records
from schemas.anomalies import ANOMALY_SCHEMA
from schemas.catalogue import rule
from schemas.fields import french_moment

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


def _history_anomalies(matched: pl.DataFrame, accepted: pl.DataFrame, code: str, field: str) -> pl.DataFrame:
    """W05/W06 rows for the matched records (`ligne`, `nir`, `earlier_name`, `earlier_at`): the earlier
    file is named by its file name and reception time, as the Esat knows it (never by a ledger id)."""
    r = rule(code)
    if matched.height == 0:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    message = pl.concat_str([pl.col("earlier_name") if name == "valeur" else pl.col("earlier_at") if name == "detail"
                             else pl.lit(text) for name, text in r.pieces()])
    return matched.join(accepted.select("ligne", "nom", "prenoms"), on="ligne", how="left").select(
        pl.col("ligne").cast(pl.Int64),
        pl.col("nir"),
        pl.lit(code).alias("code"),
        pl.lit(r.severity).alias("gravite"),
        pl.lit(field).alias("champ"),
        message.alias("message"),
        pl.col("nom"), pl.col("prenoms"),
    ).cast(ANOMALY_SCHEMA)


def _with_moment(rows: list, at: int, keep: bool = True) -> list[tuple]:
    """Rows with their reception datetime (column `at`) followed (keep) or replaced by the French text a
    message shows."""
    return [(*r[:at + (1 if keep else 0)], french_moment(r[at]), *r[at + 1:]) for r in rows]


def _db_rows(accepted: pl.DataFrame, file_id: int, kind: str, received_at: datetime,
             caf_gestionnaire: str | None) -> list[dict]:
    """The `records` rows of accepted typed records (`replaces_id` included when the frame has it)."""
    cols = [c for c in accepted.columns if c in records.c and c not in ("id",)]
    frame = accepted.with_columns(
        (pl.col(src) * 100).cast(pl.Int64).alias(dst) for src, dst in CENT_COLUMNS.items() if src in accepted.columns
    ).select(
        *cols, *[dst for src, dst in CENT_COLUMNS.items() if src in accepted.columns],
    ).with_columns(
        pl.lit(file_id).alias("file_id"), pl.lit(kind).alias("kind"),
        pl.lit(caf_gestionnaire, dtype=pl.String).alias("caf_gestionnaire"),
        pl.lit(received_at).alias("received_at"),
        (pl.col("superseded") if "superseded" in accepted.columns else pl.lit(False)).alias("superseded"),
    )
    return frame.to_dicts()


def record_accepted(conn: Connection, *, file_id: int, kind: str, typed: pl.DataFrame, received_at: datetime,
                    caf_gestionnaire: str | None) -> pl.DataFrame:
    """Store the file's accepted records, applying W05/W06; returns the W05/W06 anomalies."""
    accepted = typed.filter(~pl.col("rejete"))
    if accepted.height == 0:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    siret = accepted["siret_esat"][0]
    if kind == "RG":
        years = accepted["annee_reference"].unique().to_list()
        existing = pl.DataFrame(
            _with_moment(conn.execute(select(records.c.id, records.c.nir, records.c.file_id, records.c.annee_reference,
                                             files.c.received_at, files.c.name, records.c.received_at)
                                      .join(files, files.c.id == records.c.file_id).where(and_(
                records.c.kind == "RG", records.c.siret_esat == siret, records.c.annee_reference.in_(years),
                records.c.superseded.is_(False),
            ))).all(), 4),
            schema={"old_id": pl.Int64, "nir": pl.String, "earlier_file": pl.Int64, "annee_reference": pl.Int32,
                    "earlier_received": pl.Datetime("us"), "earlier_at": pl.String, "earlier_name": pl.String,
                    "old_received_at": pl.Datetime("us")},
            orient="row",
        )
        matched = accepted.select("ligne", "nir", pl.col("annee_reference").cast(pl.Int32)).join(
            existing, on=["nir", "annee_reference"], how="inner")
        # « latest wins » by reception order: a replayed file never replaces what a later file brought
        mine = (received_at.replace(tzinfo=None) if received_at.tzinfo is None
                else received_at.astimezone(timezone.utc).replace(tzinfo=None))
        later = pl.col("old_received_at").dt.replace_time_zone(None)
        newer = matched.filter((later > mine) | ((later == mine) & (pl.col("earlier_file") > file_id)))
        matched = matched.join(newer.select("ligne"), on="ligne", how="anti")
        extra = _history_anomalies(matched, accepted, "W05", "nir")
        old_ids = matched["old_id"].to_list()
        for i in range(0, len(old_ids), CHUNK):
            conn.execute(update(records).where(records.c.id.in_(old_ids[i:i + CHUNK])).values(superseded=True))
        with_replaced = accepted.join(matched.select("ligne", pl.col("old_id").alias("replaces_id")),
                                      on="ligne", how="left", maintain_order="left").with_columns(
            pl.col("ligne").is_in(newer["ligne"].implode()).alias("superseded"))
        rows = _db_rows(with_replaced, file_id, kind, received_at, caf_gestionnaire)
    else:
        key = ["nir", "type_changement", "date_effet"]
        existing = pl.DataFrame(
            _with_moment(conn.execute(select(records.c.nir, records.c.type_changement, records.c.date_effet,
                                             records.c.file_id, files.c.received_at, files.c.name)
                                      .join(files, files.c.id == records.c.file_id)
                                      .where(and_(records.c.kind == "CA", records.c.siret_esat == siret))
                                      .order_by(records.c.id)).all(), 4, keep=False),
            schema={"nir": pl.String, "type_changement": pl.String, "date_effet": pl.Date, "earlier_file": pl.Int64,
                    "earlier_at": pl.String, "earlier_name": pl.String},
            orient="row",
        ).unique(subset=key, keep="first", maintain_order=True)
        seen_before = accepted.select("ligne", *key).join(existing, on=key, how="inner")
        # the same event twice in this file: the first occurrence is kept, later ones are repeats
        firsts = accepted.sort("ligne").unique(subset=key, keep="first", maintain_order=True)
        this = conn.execute(select(files.c.name, files.c.received_at).where(files.c.id == file_id)).one()
        repeats = accepted.join(firsts.select("ligne"), on="ligne", how="anti").select(
            "ligne", *key, pl.lit(file_id, dtype=pl.Int64).alias("earlier_file"),
            pl.lit(french_moment(this.received_at)).alias("earlier_at"), pl.lit(this.name).alias("earlier_name"))
        matched = pl.concat([seen_before, repeats]).unique(subset="ligne", keep="first").sort("ligne")
        extra = _history_anomalies(matched, accepted, "W06", "type_changement")
        fresh = accepted.join(matched.select("ligne"), on="ligne", how="anti")
        rows = _db_rows(fresh, file_id, kind, received_at, caf_gestionnaire)
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(records), rows[i:i + CHUNK])
    return extra
