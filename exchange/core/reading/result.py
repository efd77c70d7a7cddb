"""What reading a declaration file gives: the raw frame (all strings) and its file-level anomalies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from schemas.anomalies import Anomaly
from schemas.declaration import Kind, columns

# The characters polars' `str.strip_chars()` strips (Unicode White_Space). Python's bare `str.strip()` also
# strips U+001C…U+001F; stripping these here keeps a value read in Python identical to one stripped by polars.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class ReadResult:
    """The raw records of one file (None when refused), its file-level anomalies and its encoding."""

    frame: pl.DataFrame | None
    anomalies: list[Anomaly] = field(default_factory=list)
    encoding: str = ""
    hidden: tuple[int, ...] = ()  # workbook rows hidden in the sheet that hold a record (W12)
    letters: dict[str, str] = field(default_factory=dict)  # workbook: column → its letter (« prenoms » → « F »)
    header_line: int = 1  # the line the header was found on (a workbook's title rows above it)

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


def cleaned(value: str | None) -> str | None:
    """A cell as the raw frame holds it: stripped of white space, '' → None."""
    return None if value is None else (value.strip(WHITE_SPACE) or None)


def raw_frame(
    kind: Kind,
    lignes: Sequence[int],
    values: Mapping[str, Sequence[str | None]],
    constants: dict[str, str | None] | None = None,
) -> pl.DataFrame:
    """The raw frame from per-column value lists (absent columns → null), stripped, '' → null.

    `constants` are file-level values copied onto every row (XML header fields). The cells are cleaned in
    Python and go to polars as one Series cut into columns: a frame of a few hundred rows costs far less so
    than through a DataFrame constructor and an expression per column.
    """
    n = len(lignes)
    consts = constants or {}
    cells: list[str | None] = []
    names = columns(kind)
    for col in names:
        given = values.get(col)
        if given is not None:
            if len(given) != n:
                raise ValueError(f"{col}: {len(given)} values for {n} lines")
            cells.extend([None if v is None else (v.strip(WHITE_SPACE) or None) for v in given])
        else:
            cells.extend([cleaned(consts.get(col))] * n)
    flat = pl.Series("", cells, dtype=pl.String())
    return pl.DataFrame(
        [
            pl.Series("ligne", lignes, dtype=pl.Int64()),
            *(flat.slice(i * n, n).alias(col) for i, col in enumerate(names)),
        ]
    )
