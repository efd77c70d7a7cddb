"""Emitting the Caf files (formats.md §5): per Caf and flux, Parquet + CSV twin + manifest, each record once.

An emission is committed (records assigned to it, state EN_COURS) before any byte is written; the files are
written atomically, the manifest last, made durable; then the emission is marked TERMINE. A crash in between
leaves an EN_COURS emission that the next run rewrites under the same name and completes.
The content is exchange.core.caf_output, the files exchange.edges.outbound, the rows exchange.store.emissions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import polars as pl

from exchange.app.stored_records import StoredRecords
from exchange.config import Config
from exchange.core.caf_output import (
    EMISSION_BATCH,
    campaign_name,
    output_frame,
    read_batches,
    source_files,
)
from exchange.core.clock import today_in_paris
from exchange.core.csv_cells import guard_text_columns
from exchange.edges.outbound import OutputBatch
from exchange.store import emissions
from exchange.store.engine import Engine
from exchange.store.ledger import Fence, transaction

Progress = Callable[[str, int, int], None]
log = logging.getLogger("esat_exchange")


def _output_frames(
    engine: Engine, batch: list[dict[str, Any]], kept: StoredRecords | None = None
) -> dict[int, tuple[pl.DataFrame, pl.DataFrame]]:
    """Each emission's output frame (formats.md §5) and its CSV form (formula guard applied), read in one
    query and shaped once per flux. When this process stored every record the emissions hold (`kept`), the
    database is asked only which records those are, not for their values."""
    every_id = [e["id"] for e in batch]
    raw = None
    with engine.connect() as conn:
        if kept is not None and kept.usable:
            raw = kept.held(emissions.assigned_keys(conn, every_id))
        if raw is None:
            raw = emissions.assigned_records(conn, every_id)
    frames: dict[int, tuple[pl.DataFrame, pl.DataFrame]] = {}
    for flux in dict.fromkeys(e["flux"] for e in batch):
        ids = [e["id"] for e in batch if e["flux"] == flux]
        part = raw.filter(pl.col("emission_id").is_in(ids))
        shaped = output_frame(part, flux)
        guarded = guard_text_columns(shaped)
        key = part["emission_id"].alias("__emission")
        csv_parts = guarded.with_columns(key).partition_by("__emission", as_dict=True, include_key=False)
        for (emission_id,), frame in (
            shaped.with_columns(key).partition_by("__emission", as_dict=True, include_key=False).items()
        ):
            frames[int(emission_id)] = (frame, csv_parts[(emission_id,)])
    return frames


def _complete(
    config: Config,
    engine: Engine,
    planned: list[dict[str, Any]],
    fence: Fence | None = None,
    progress: Progress | None = None,
    run_id: int | None = None,
    kept: StoredRecords | None = None,
) -> list[str]:
    """Write (or rewrite) the files of assigned emissions and mark them TERMINE, a batch at a time."""
    written: list[str] = []
    for batch in read_batches(planned):
        frames = _output_frames(engine, batch, kept)
        files, heights = OutputBatch(), {}
        for emission in batch:
            frame, csv_frame = frames.pop(emission["id"], None) or (output_frame([], emission["flux"]), None)
            files.write_data(
                config.output_dir / emission["code_caf"],
                emission["name"],
                frame,
                {"flux": emission["flux"], "code_caf": emission["code_caf"], "source_files": source_files(frame)},
                csv_frame,
            )
            heights[emission["id"]] = frame.height
        del frames
        files.finish()
        with transaction(engine, fence) as conn:
            emissions.terminate(conn, heights)
        if kept is not None:
            kept.drop(list(heights))
        for emission in batch:
            written.append(f"{emission['code_caf']}/{emission['name']}.parquet")
            log.info(
                f"fichier Caf écrit : Caf {emission['code_caf']}, {emission['name']}.parquet "
                f"({heights[emission['id']]} ligne{'s' if heights[emission['id']] > 1 else ''})",
                extra={"event": {"run_id": run_id, "code_caf": emission["code_caf"], "flux": emission["flux"]}},
            )
            if progress is not None:
                progress("émission", len(written), len(planned))
    return written


def emit_pending(
    config: Config,
    engine: Engine,
    run_id: int | None,
    fence: Fence | None = None,
    progress: Progress | None = None,
    kept: StoredRecords | None = None,
) -> list[str]:
    """Complete interrupted emissions, then emit every accepted record not yet emitted, per Caf and flux
    (`kept`: the records this process stored, which spare reading those back)."""
    with engine.connect() as conn:
        unfinished = emissions.unfinished_deltas(conn)
    if unfinished:
        n = len(unfinished)
        log.info(
            f"reprise de {n} émission{'s' if n > 1 else ''} Caf inachevée{'s' if n > 1 else ''}",
            extra={"event": {"run_id": run_id}},
        )
    written = _complete(config, engine, unfinished, fence, run_id=run_id)
    with transaction(engine, fence) as conn:
        planned = emissions.open_deltas(conn, run_id)
    n = len(planned)
    log.info(f"émission vers les Caf : {n} fichier{'s' if n > 1 else ''} à écrire", extra={"event": {"run_id": run_id}})
    written += _complete(config, engine, planned, fence, progress, run_id, kept)  # committed: now the side effect
    return written


def campaign_close(
    config: Config,
    engine: Engine,
    year: int,
    day: date | None = None,
    run_id: int | None = None,
    fence: Fence | None = None,
) -> list[str]:
    """The campaign snapshot of year N per Caf: for each worker, the latest accepted RG record of year N."""
    day = day or today_in_paris()
    with engine.connect() as conn:
        cafs = emissions.campaign_cafs(conn, year)
    written = []
    for start in range(0, len(cafs), EMISSION_BATCH):
        # one Caf's records in memory at a time; the files of up to EMISSION_BATCH Cafs made durable together
        chunk = cafs[start : start + EMISSION_BATCH]
        names = {code_caf: campaign_name(year, code_caf, day) for code_caf in chunk}
        with transaction(engine, fence) as conn:
            ids = emissions.open_campaign(conn, year, names, run_id)
        batch, heights = OutputBatch(), {}
        for code_caf in chunk:
            with engine.connect() as conn:
                frame = output_frame(emissions.campaign_records(conn, year, code_caf), "RG")
            batch.write_data(
                config.output_dir / code_caf,
                names[code_caf],
                frame,
                {
                    "flux": emissions.CAMPAIGN_FLUX,
                    "code_caf": code_caf,
                    "annee_reference": year,
                    "source_files": source_files(frame),
                },
            )
            heights[ids[code_caf]] = frame.height
            del frame
        batch.finish()
        with transaction(engine, fence) as conn:
            emissions.terminate(conn, heights)
        written += [f"{code_caf}/{names[code_caf]}.parquet" for code_caf in chunk]
    return written


__all__ = ["emit_pending", "campaign_close"]
