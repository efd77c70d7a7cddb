"""Writing CSV cells safely: the spreadsheet-formula guard shared by every CSV the project writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # polars only for frames: a listing's CSV needs none
    import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_text(value: str | None) -> str:
    """Prefix with ' a text value that a spreadsheet would run as a formula."""
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def guard_text_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The formula guard on every String column of a frame (numbers and dates untouched)."""
    import polars as pl

    pattern = r"^[=+\-@\t\r]"
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(pattern)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, dt in frame.schema.items()
        if dt == pl.String
    )
