"""The Caf output files' content (formats.md §5): typed frames, their Parquet and CSV bytes, the manifest, the batches.

Pure: stored records (a frame of `records` columns) in, frames and bytes out. Written by exchange.edges.outbound,
planned and recorded by exchange.app.emission and exchange.store.emissions.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from exchange.core.clock import PARIS
from exchange.core.csv_cells import guard_text_columns
from exchange.core.vocabulary import CENT_COLUMNS

DEC10 = pl.Decimal(10, 2)
DEC5 = pl.Decimal(5, 2)

RG_OUTPUT: dict[str, pl.DataType] = {
    "nature": pl.String(),
    "code_caf": pl.String(),
    "caf_gestionnaire": pl.String(),
    "siret_esat": pl.String(),
    "annee_reference": pl.Int32(),
    "date_effet_droits": pl.Date(),
    "nir": pl.String(),
    "nom": pl.String(),
    "prenoms": pl.String(),
    "date_naissance": pl.Date(),
    "date_entree_esat": pl.Date(),
    "numero_allocataire": pl.String(),
    "taux_activite_esat": DEC5,
    "remuneration_garantie_nette": DEC10,
    "part_financee_esat_nette": DEC10,
    "aide_au_poste_nette": DEC10,
    "cumul_milieu_ordinaire": pl.Boolean(),
    "siret_employeur_mo": pl.String(),
    "type_contrat_mo": pl.String(),
    "date_debut_mo": pl.Date(),
    "heures_hebdo_mo": DEC5,
    "salaire_net_mo": DEC10,
    "id_fichier_source": pl.String(),
    "ligne_source": pl.Int32(),
    "date_reception": pl.Datetime("us", "UTC"),
}
CA_OUTPUT: dict[str, pl.DataType] = {
    "code_caf": pl.String(),
    "caf_gestionnaire": pl.String(),
    "siret_esat": pl.String(),
    "nir": pl.String(),
    "nom": pl.String(),
    "prenoms": pl.String(),
    "date_naissance": pl.Date(),
    "numero_allocataire": pl.String(),
    "type_changement": pl.String(),
    "date_effet": pl.Date(),
    "taux_activite_avant": DEC5,
    "taux_activite_apres": DEC5,
    "motif_depart": pl.String(),
    "siret_employeur_mo": pl.String(),
    "type_contrat_mo": pl.String(),
    "date_debut_mo": pl.Date(),
    "heures_hebdo_mo": DEC5,
    "id_fichier_source": pl.String(),
    "ligne_source": pl.Int32(),
    "date_reception": pl.Datetime("us", "UTC"),
}


def output_frame(rows: list[dict[str, Any]] | pl.DataFrame, flux: str) -> pl.DataFrame:
    """Stored records (dicts, or a frame of `records` columns) → the output columns of formats.md §5, in
    order, with exact types."""
    schema = CA_OUTPUT if flux == "CA" else RG_OUTPUT
    if len(rows) == 0:
        return pl.DataFrame(schema=schema)
    raw = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, infer_schema_length=None)
    cols = []
    for name, dtype in schema.items():
        if name in CENT_COLUMNS:
            expr = (pl.col(CENT_COLUMNS[name]).cast(pl.Decimal(12, 2)) / 100).cast(dtype)
        elif name == "date_effet_droits":
            expr = pl.date(pl.col("annee_reference").cast(pl.Int32) + 1, 1, 1)
        elif name in ("nom", "prenoms"):
            expr = pl.col(name).cast(pl.String).str.to_uppercase()
        elif name == "id_fichier_source":
            expr = pl.col("file_id").cast(pl.String)
        elif name == "ligne_source":
            expr = pl.col("ligne")
        elif name == "date_reception":
            expr = (
                pl.col("received_at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                if raw.schema.get("received_at") != pl.Datetime("us", "UTC")
                else pl.col("received_at")
            )
        elif name == "cumul_milieu_ordinaire":
            expr = pl.col(name).cast(pl.Boolean)
        else:
            expr = pl.col(name)
        cols.append(expr.cast(dtype).alias(name))
    return raw.select(cols)


def csv_bytes(frame: pl.DataFrame, guarded: bool = False) -> bytes:
    """The CSV twin; `guarded`: the formula guard was already applied to the frame's text cells."""
    buf = io.BytesIO()
    (frame if guarded else guard_text_columns(frame)).write_csv(
        buf, separator=";", date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S%.6fZ", null_value=""
    )
    return buf.getvalue()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def manifest(
    base: str, frame: pl.DataFrame, parquet: bytes, csv: bytes, extra: dict[str, Any], generated_at: datetime
) -> dict[str, Any]:
    """The manifest written last beside an emission's Parquet and CSV (formats.md §5)."""
    return {
        "schema_version": "1",
        **extra,
        "file": f"{base}.parquet",
        "csv": f"{base}.csv",
        "rows": frame.height,
        "sha256": hashlib.sha256(parquet).hexdigest(),
        "csv_sha256": hashlib.sha256(csv).hexdigest(),
        "generated_at": generated_at.isoformat(),
    }


def emission_names(prefix: str, when: datetime) -> Iterator[str]:
    """`prefix_AAAAMMJJHHMMSS` (Paris time), then a second later each: the candidates for a new emission's name."""
    stamp = when.astimezone(PARIS).replace(microsecond=0)
    while True:
        yield f"{prefix}_{stamp.strftime('%Y%m%d%H%M%S')}"
        stamp += timedelta(seconds=1)


def delta_prefix(flux: str, code_caf: str) -> str:
    return f"AAH-ESAT_{flux}_{code_caf}"


def open_name(flux: str, code_caf: str) -> str:
    """The provisional name of the OUVERTE emission of a flux and Caf (never a file's: it has no timestamp)."""
    return f"{delta_prefix(flux, code_caf)}_OUVERTE"


def campaign_name(year: int, code_caf: str, day: date) -> str:
    """The campaign snapshot of year N for one Caf, written on `day`."""
    return f"AAH-ESAT_RG-CAMPAGNE_{year}_{code_caf}_{day.strftime('%Y%m%d')}"


def source_files(frame: pl.DataFrame) -> list[str]:
    """The received files an output frame's records come from, in id order."""
    return sorted(frame["id_fichier_source"].unique().to_list(), key=int)


EMISSION_BATCH = 64  # emissions whose files are made durable together, then marked TERMINE in one transaction
ROWS_PER_READ = 200_000  # records read and shaped together (several small Cafs at once; a big one alone)


def read_batches(planned: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive emissions in batches of at most EMISSION_BATCH emissions and ROWS_PER_READ records
    (`pending`: the records assigned to each; a larger emission makes a batch of its own)."""
    batches: list[list[dict[str, Any]]] = []
    rows = 0
    for e in planned:
        if not batches or len(batches[-1]) >= EMISSION_BATCH or rows + e["pending"] > ROWS_PER_READ:
            batches.append([])
            rows = 0
        batches[-1].append(e)
        rows += e["pending"]
    return batches
