"""The Caf outbound folder: each emission's Parquet, CSV twin and manifest written atomically, durable, 0640."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from exchange.core.caf_output import csv_bytes, manifest, parquet_bytes
from exchange.core.clock import utcnow
from exchange.edges.durable import write_atomic
from exchange.edges.transport.batch_sync import BatchSync, raise_first
from exchange.files import private_dir


def write_output(out_dir: Path, base: str, frame: pl.DataFrame, manifest_extra: dict[str, Any]) -> dict[str, Any]:
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
        self._manifests: list[tuple[Path, dict[str, Any]]] = []

    def write_data(
        self,
        out_dir: Path,
        base: str,
        frame: pl.DataFrame,
        manifest_extra: dict[str, Any],
        csv_frame: pl.DataFrame | None = None,
    ) -> dict[str, Any]:
        """Parquet and CSV twin (atomic, 0640, not yet durable); returns the manifest that finish() writes.
        `csv_frame`: the frame with the formula guard already applied, when the caller has it."""
        private_dir(out_dir, 0o750)  # the output folder too, when this creates it
        parquet = parquet_bytes(frame)
        csv = csv_bytes(csv_frame, guarded=True) if csv_frame is not None else csv_bytes(frame)
        for name, data in ((f"{base}.parquet", parquet), (f"{base}.csv", csv)):
            write_atomic(out_dir / name, data, mode=0o640, sync_dir=False, fsync=False)
            self._data.append(out_dir / name)
        written = manifest(base, frame, parquet, csv, manifest_extra, utcnow())
        self._manifests.append((out_dir / f"{base}.manifest.json", written))
        return written

    def finish(self) -> None:
        """The data on disk, then the manifests written and on disk; OSError on the first file that is not."""
        paths = self._data + [p for p, _ in self._manifests]
        with BatchSync(paths) as batch:
            raise_first(batch.make_durable(self._data))
            for path, content in self._manifests:
                write_atomic(
                    path,
                    (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
                    mode=0o640,
                    sync_dir=False,
                    fsync=False,
                )
            raise_first(batch.make_durable([p for p, _ in self._manifests]))
        self._data, self._manifests = [], []
