"""Caf output files (formats.md §5): per Caf and flux, Parquet + CSV twin + manifest, each record once.

An emission is committed (records assigned to it, state EN_COURS) before any byte is written; the
files are written atomically, the manifest last; then the emission is marked TERMINE. A crash in
between leaves an EN_COURS emission that the next run rewrites under the same name and completes.
"""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import and_, case, exists, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from exchange.store.bulk import read_frame
from exchange.config import Config
from exchange.core.csv_cells import guard_text_columns
from exchange.store.tables import emissions, records
from exchange.edges.durable import private_dir, write_atomic
from exchange.store.ledger import Fence, transaction, utcnow
from exchange.edges.transport.batch_sync import BatchSync, raise_first

PARIS = ZoneInfo("Europe/Paris")
DEC10 = pl.Decimal(10, 2)
DEC5 = pl.Decimal(5, 2)

RG_OUTPUT: dict[str, pl.DataType] = {
    "nature": pl.String(), "code_caf": pl.String(), "caf_gestionnaire": pl.String(), "siret_esat": pl.String(),
    "annee_reference": pl.Int32(), "date_effet_droits": pl.Date(), "nir": pl.String(), "nom": pl.String(),
    "prenoms": pl.String(), "date_naissance": pl.Date(), "date_entree_esat": pl.Date(),
    "numero_allocataire": pl.String(), "taux_activite_esat": DEC5, "remuneration_garantie_nette": DEC10,
    "part_financee_esat_nette": DEC10, "aide_au_poste_nette": DEC10, "cumul_milieu_ordinaire": pl.Boolean(),
    "siret_employeur_mo": pl.String(), "type_contrat_mo": pl.String(), "date_debut_mo": pl.Date(),
    "heures_hebdo_mo": DEC5, "salaire_net_mo": DEC10, "id_fichier_source": pl.String(),
    "ligne_source": pl.Int32(), "date_reception": pl.Datetime("us", "UTC"),
}
CA_OUTPUT: dict[str, pl.DataType] = {
    "code_caf": pl.String(), "caf_gestionnaire": pl.String(), "siret_esat": pl.String(), "nir": pl.String(),
    "nom": pl.String(), "prenoms": pl.String(), "date_naissance": pl.Date(), "numero_allocataire": pl.String(),
    "type_changement": pl.String(), "date_effet": pl.Date(), "taux_activite_avant": DEC5,
    "taux_activite_apres": DEC5, "motif_depart": pl.String(), "siret_employeur_mo": pl.String(),
    "type_contrat_mo": pl.String(), "date_debut_mo": pl.Date(), "heures_hebdo_mo": DEC5,
    "id_fichier_source": pl.String(), "ligne_source": pl.Int32(), "date_reception": pl.Datetime("us", "UTC"),
}
_CENTS = {"taux_activite_esat", "remuneration_garantie_nette", "part_financee_esat_nette", "aide_au_poste_nette",
          "heures_hebdo_mo", "salaire_net_mo", "taux_activite_avant", "taux_activite_apres"}


def output_frame(rows: list[dict] | pl.DataFrame, flux: str) -> pl.DataFrame:
    """Stored records (dicts, or a frame of `records` columns) → the output columns of formats.md §5, in
    order, with exact types."""
    schema = CA_OUTPUT if flux == "CA" else RG_OUTPUT
    if len(rows) == 0:
        return pl.DataFrame(schema=schema)
    raw = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, infer_schema_length=None)
    cols = []
    for name, dtype in schema.items():
        if name in _CENTS:
            expr = (pl.col(f"{name}_c").cast(pl.Decimal(12, 2)) / 100).cast(dtype)
        elif name == "date_effet_droits":
            expr = pl.date(pl.col("annee_reference").cast(pl.Int32) + 1, 1, 1)
        elif name in ("nom", "prenoms"):
            expr = pl.col(name).cast(pl.String).str.to_uppercase()
        elif name == "id_fichier_source":
            expr = pl.col("file_id").cast(pl.String)
        elif name == "ligne_source":
            expr = pl.col("ligne")
        elif name == "date_reception":
            expr = pl.col("received_at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC") \
                if raw.schema.get("received_at") != pl.Datetime("us", "UTC") else pl.col("received_at")
        elif name == "cumul_milieu_ordinaire":
            expr = pl.col(name).cast(pl.Boolean)
        else:
            expr = pl.col(name)
        cols.append(expr.cast(dtype).alias(name))
    return raw.select(cols)


def _csv_bytes(frame: pl.DataFrame, guarded: bool = False) -> bytes:
    """The CSV twin; `guarded`: the formula guard was already applied to the frame's text cells."""
    buf = io.BytesIO()
    (frame if guarded else guard_text_columns(frame)).write_csv(
        buf, separator=";", date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S%.6fZ", null_value="")
    return buf.getvalue()


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def write_output(out_dir: Path, base: str, frame: pl.DataFrame, manifest_extra: dict) -> dict:
    """Parquet, CSV twin, then the manifest (last), each atomic, durable and 0640; returns the manifest."""
    batch = OutputBatch()
    manifest = batch.write_data(out_dir, base, frame, manifest_extra)
    batch.finish()
    return manifest


class OutputBatch:
    """Several emissions' files written with one syncfs for their data and one for their manifests: every
    Parquet and CSV is on disk before any manifest of the batch is written, and the manifests are on disk
    when finish() returns (the caller then marks the emissions TERMINE)."""

    def __init__(self) -> None:
        self._data: list[Path] = []
        self._manifests: list[tuple[Path, dict]] = []

    def write_data(self, out_dir: Path, base: str, frame: pl.DataFrame, manifest_extra: dict,
                   csv_frame: pl.DataFrame | None = None) -> dict:
        """Parquet and CSV twin (atomic, 0640, not yet durable); returns the manifest that finish() writes.
        `csv_frame`: the frame with the formula guard already applied, when the caller has it."""
        private_dir(out_dir, 0o750)  # the output folder too, when this creates it
        parquet = _parquet_bytes(frame)
        csv = _csv_bytes(csv_frame, guarded=True) if csv_frame is not None else _csv_bytes(frame)
        for name, data in ((f"{base}.parquet", parquet), (f"{base}.csv", csv)):
            write_atomic(out_dir / name, data, mode=0o640, sync_dir=False, fsync=False)
            self._data.append(out_dir / name)
        manifest = {
            "schema_version": "1", **manifest_extra, "file": f"{base}.parquet", "csv": f"{base}.csv",
            "rows": frame.height, "sha256": hashlib.sha256(parquet).hexdigest(),
            "csv_sha256": hashlib.sha256(csv).hexdigest(), "generated_at": utcnow().isoformat(),
        }
        self._manifests.append((out_dir / f"{base}.manifest.json", manifest))
        return manifest

    def finish(self) -> None:
        """The data on disk, then the manifests written and on disk; OSError on the first file that is not."""
        paths = self._data + [p for p, _ in self._manifests]
        with BatchSync(paths) as batch:
            raise_first(batch.make_durable(self._data))
            for path, manifest in self._manifests:
                write_atomic(path, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
                             mode=0o640, sync_dir=False, fsync=False)
            raise_first(batch.make_durable([p for p, _ in self._manifests]))
        self._data, self._manifests = [], []


def _unique_name(conn: Connection, prefix: str, when: datetime) -> str:
    """`prefix_AAAAMMJJHHMMSS`, moved on by a second while taken: two emissions never share a name."""
    stamp = when.astimezone(PARIS).replace(microsecond=0)
    while True:
        name = f"{prefix}_{stamp.strftime('%Y%m%d%H%M%S')}"
        if conn.execute(select(emissions.c.id).where(emissions.c.name == name)).first() is None:
            return name
        stamp += timedelta(seconds=1)


EMISSION_BATCH = 64  # emissions whose files are made durable together, then marked TERMINE in one transaction
ROWS_PER_READ = 200_000  # records read and shaped together (several small Cafs at once; a big one alone)


def _read_batches(planned: list[dict]) -> list[list[dict]]:
    """Consecutive emissions in batches of at most EMISSION_BATCH emissions and ROWS_PER_READ records
    (`pending`: the records assigned to each; a larger emission makes a batch of its own)."""
    batches: list[list[dict]] = []
    rows = 0
    for e in planned:
        if not batches or len(batches[-1]) >= EMISSION_BATCH or rows + e["pending"] > ROWS_PER_READ:
            batches.append([])
            rows = 0
        batches[-1].append(e)
        rows += e["pending"]
    return batches


def _output_frames(conn: Connection, batch: list[dict]) -> dict[int, tuple[pl.DataFrame, pl.DataFrame]]:
    """Each emission's output frame (formats.md §5) and its CSV form (formula guard applied), read in one
    query and shaped once per flux."""
    raw = read_frame(conn, select(records).where(records.c.emission_id.in_([e["id"] for e in batch]))
                     .order_by(records.c.emission_id, records.c.file_id, records.c.ligne))
    frames: dict[int, pl.DataFrame] = {}
    for flux in dict.fromkeys(e["flux"] for e in batch):
        ids = [e["id"] for e in batch if e["flux"] == flux]
        part = raw.filter(pl.col("emission_id").is_in(ids))
        shaped = output_frame(part, flux)
        guarded = guard_text_columns(shaped)
        key = part["emission_id"].alias("__emission")
        csv_parts = guarded.with_columns(key).partition_by("__emission", as_dict=True, include_key=False)
        for (emission_id,), frame in shaped.with_columns(key).partition_by("__emission", as_dict=True,
                                                                            include_key=False).items():
            frames[int(emission_id)] = (frame, csv_parts[(emission_id,)])
    return frames


def _terminated(engine: Engine, fence: Fence | None, heights: dict[int, int]) -> None:
    """Emissions whose files are on disk → TERMINE with their row counts, in one transaction."""
    with transaction(engine, fence) as conn:
        now = utcnow()
        for emission_id, height in heights.items():
            conn.execute(update(emissions).where(emissions.c.id == emission_id)
                         .values(state="TERMINE", rows=height, completed_at=now))


def _complete(config: Config, engine: Engine, planned: list[dict], fence: Fence | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Write (or rewrite) the files of assigned emissions and mark them TERMINE, a batch at a time."""
    written: list[str] = []
    for batch in _read_batches(planned):
        with engine.connect() as conn:
            frames = _output_frames(conn, batch)
        files, heights = OutputBatch(), {}
        for emission in batch:
            frame, csv_frame = frames.pop(emission["id"], None) or (output_frame([], emission["flux"]), None)
            sources = sorted(frame["id_fichier_source"].unique().to_list(), key=int)
            files.write_data(config.output_dir / emission["code_caf"], emission["name"], frame,
                             {"flux": emission["flux"], "code_caf": emission["code_caf"], "source_files": sources},
                             csv_frame)
            heights[emission["id"]] = frame.height
        del frames
        files.finish()
        _terminated(engine, fence, heights)
        for emission in batch:
            written.append(f"{emission['code_caf']}/{emission['name']}.parquet")
            if progress is not None:
                progress("émission", len(written), len(planned))
    return written


def emit_pending(config: Config, engine: Engine, run_id: int | None, fence: Fence | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Complete interrupted emissions, then emit every accepted record not yet emitted, per Caf and flux."""
    written: list[str] = []
    with engine.connect() as conn:
        unfinished = [dict(r) for r in conn.execute(
            select(emissions).where(and_(emissions.c.state == "EN_COURS", emissions.c.flux.in_(("RG", "CA"))))
            .order_by(emissions.c.id)
        ).mappings()]
        assigned = dict(conn.execute(select(records.c.emission_id, func.count()).where(
            records.c.emission_id.in_([e["id"] for e in unfinished])).group_by(records.c.emission_id)).all()
        ) if unfinished else {}
    for e in unfinished:
        e["pending"] = int(assigned.get(e["id"], 0))
    written += _complete(config, engine, unfinished, fence)
    with transaction(engine, fence) as conn:
        groups = conn.execute(
            select(records.c.kind, records.c.code_caf, func.count()).where(and_(
                records.c.emission_id.is_(None), records.c.superseded.is_(False)))
            .group_by(records.c.kind, records.c.code_caf).order_by(records.c.code_caf, records.c.kind)
        ).all()
        planned = []
        now = utcnow()
        for kind, code_caf, pending_rows in groups:
            name = _unique_name(conn, f"AAH-ESAT_{kind}_{code_caf}", now)
            eid = int(conn.execute(insert(emissions).values(
                flux=kind, code_caf=code_caf, name=name, state="EN_COURS", run_id=run_id, created_at=now,
            )).inserted_primary_key[0])
            pending = and_(records.c.emission_id.is_(None), records.c.superseded.is_(False),
                           records.c.kind == kind, records.c.code_caf == code_caf)
            if kind == "RG":
                earlier = records.alias("earlier")
                emitted_before = exists().where(and_(
                    earlier.c.siret_esat == records.c.siret_esat, earlier.c.nir == records.c.nir,
                    earlier.c.annee_reference == records.c.annee_reference, earlier.c.emission_id.is_not(None),
                    earlier.c.id != records.c.id))
                conn.execute(update(records).where(and_(pending, emitted_before))
                             .values(nature="RECTIFICATIVE", emission_id=eid))
                conn.execute(update(records).where(pending).values(nature="INITIALE", emission_id=eid))
            else:
                conn.execute(update(records).where(pending).values(emission_id=eid))
            planned.append({"id": eid, "flux": kind, "code_caf": code_caf, "name": name, "pending": pending_rows})
    written += _complete(config, engine, planned, fence, progress)  # the assignment is committed: now the side effect
    return written


def campaign_close(config: Config, engine: Engine, year: int, day: date | None = None,
                   run_id: int | None = None, fence: Fence | None = None) -> list[str]:
    """The campaign snapshot of year N per Caf: for each worker, the latest accepted RG record of year N."""
    day = day or datetime.now(PARIS).date()
    # in the snapshot, a record that replaced an earlier one says so
    nature = case((records.c.replaces_id.is_not(None), "RECTIFICATIVE"), else_="INITIALE").label("nature")
    columns = [c for c in records.c if c.name != "nature"] + [nature]
    in_force = and_(records.c.kind == "RG", records.c.annee_reference == year, records.c.superseded.is_(False))
    with engine.connect() as conn:
        cafs = [c for (c,) in conn.execute(select(records.c.code_caf).where(in_force).distinct()
                                           .order_by(records.c.code_caf))]
    written = []
    for start in range(0, len(cafs), EMISSION_BATCH):
        # one Caf's records in memory at a time; the files of up to EMISSION_BATCH Cafs made durable together
        chunk = cafs[start:start + EMISSION_BATCH]
        names = {code_caf: f"AAH-ESAT_RG-CAMPAGNE_{year}_{code_caf}_{day.strftime('%Y%m%d')}" for code_caf in chunk}
        with transaction(engine, fence) as conn:
            ids = {}
            for code_caf, name in names.items():
                existing = conn.execute(select(emissions.c.id).where(emissions.c.name == name)).scalar()
                ids[code_caf] = existing if existing is not None else int(conn.execute(insert(emissions).values(
                    flux="RG-CAMPAGNE", code_caf=code_caf, annee=year, name=name, state="EN_COURS",
                    run_id=run_id, created_at=utcnow())).inserted_primary_key[0])
        batch, heights = OutputBatch(), {}
        for code_caf in chunk:
            with engine.connect() as conn:
                frame = output_frame(read_frame(conn, select(*columns).where(and_(in_force, records.c.code_caf == code_caf))
                                                .order_by(records.c.siret_esat, records.c.nir)), "RG")
            sources = sorted(frame["id_fichier_source"].unique().to_list(), key=int)
            batch.write_data(config.output_dir / code_caf, names[code_caf], frame,
                             {"flux": "RG-CAMPAGNE", "code_caf": code_caf, "annee_reference": year,
                              "source_files": sources})
            heights[ids[code_caf]] = frame.height
            del frame
        batch.finish()
        _terminated(engine, fence, heights)
        written += [f"{code_caf}/{names[code_caf]}.parquet" for code_caf in chunk]
    return written


__all__ = ["emit_pending", "campaign_close", "output_frame", "write_output", "RG_OUTPUT", "CA_OUTPUT"]
