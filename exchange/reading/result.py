"""What reading a declaration file gives: the raw frame (all strings) and its file-level anomalies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import polars as pl

from schemas.anomalies import Anomaly
from schemas.declaration import Kind, columns


@dataclass(frozen=True)
class ReadResult:
    """The raw records of one file (None when refused), its file-level anomalies and its encoding."""

    frame: pl.DataFrame | None
    anomalies: list[Anomaly] = field(default_factory=list)
    encoding: str = ""

    @property
    def blocking(self) -> Anomaly | None:
        """The blocking file-level anomaly (F01, F03 or F08), if any."""
        return next((a for a in self.anomalies if a.blocking), None)


def refused(anomaly: Anomaly, encoding: str = "", notes: Sequence[Anomaly] = ()) -> ReadResult:
    """A file refused as a whole by one blocking anomaly (plus non-blocking notes such as W07)."""
    return ReadResult(frame=None, anomalies=[anomaly, *notes], encoding=encoding)


def frame_schema(kind: Kind) -> dict[str, pl.DataType]:
    """The raw frame's schema: `ligne` then every column of the kind, all strings."""
    return {"ligne": pl.Int64(), **{c: pl.String() for c in columns(kind)}}


def raw_frame(kind: Kind, lignes: Sequence[int] | pl.Series, values: dict[str, Sequence[str | None] | pl.Series],
              constants: dict[str, str | None] | None = None) -> pl.DataFrame:
    """The raw frame from per-column value lists (absent columns → null), stripped, '' → null.

    `constants` are file-level values copied onto every row (XML header fields).
    """
    n = len(lignes)
    data: dict[str, object] = {"ligne": lignes}
    consts = constants or {}
    for col in columns(kind):
        if col in values:
            data[col] = values[col]
        else:
            data[col] = [consts.get(col)] * n if col in consts else [None] * n
    frame = pl.DataFrame(data, schema=frame_schema(kind))
    cleaned = pl.col(pl.String).str.strip_chars()
    return frame.with_columns(
        pl.when(cleaned == "").then(None).otherwise(cleaned).name.keep()
    )
