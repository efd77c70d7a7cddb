"""Bulk inserts of a polars frame into one table: executemany of plain tuples on SQLite, COPY (CSV written by
polars) on PostgreSQL.

SQLAlchemy's `insert(table), [dicts]` binds every value through Python type processors, row by row;
for the tens of thousands of records and anomalies of one batch that is most of the store step. Here
the frame is converted once, column by column, to what the driver stores (on SQLite: the exact text
SQLAlchemy's DATE and DATETIME types write and read back), then handed to the driver in one call.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl
from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

# SQLAlchemy's SQLite DATETIME / DATE storage formats (sqlalchemy.dialects.sqlite.DATETIME / DATE)
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
SQLITE_DATE = "%Y-%m-%d"
# What a NULL is bound as on SQLite. Python's sqlite3 binds an int, a float or a str directly, but sends every
# other value (None too) through its adapter lookup, which on Python 3.11 builds and clears an AttributeError
# each time: 0.9 µs per None, 8× an int. A third of a record's cells are NULL, so that was half the cost of
# storing a batch. SQLite stores a bound NaN as NULL (sqlite3VdbeMemSetDouble), so NaN is bound instead;
# tests/store/test_bulk.py checks the cells are NULL to SQL itself, and that NOT NULL still refuses them.
SQLITE_NULL = float("nan")


def _sqlite_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and datetimes as SQLAlchemy's SQLite text (datetimes in UTC wall time), booleans as 0/1."""
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            col = col.dt.strftime(SQLITE_DATETIME)
        elif dtype == pl.Date:
            col = col.dt.strftime(SQLITE_DATE)
        elif dtype == pl.Boolean:
            col = col.cast(pl.Int8)
        out.append(col.alias(name))
    return frame.select(out)


def _sqlite_rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    """The rows to bind, column by column to Python lists (as fast as `frame.rows()`), NULL as SQLITE_NULL."""
    columns = []
    for series in _sqlite_ready(frame):
        values = series.to_list()
        columns.append([SQLITE_NULL if v is None else v for v in values] if series.null_count() else values)
    return list(zip(*columns))


def _pg_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Naive datetimes are UTC (the ledger's convention): made aware, so timestamptz columns get them right."""
    return frame.with_columns(
        pl.col(name).dt.replace_time_zone("UTC")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None
    )


def _pg_csv(frame: pl.DataFrame) -> bytes:
    """The rows as COPY … (FORMAT csv) reads them: a NULL is an unquoted empty field, every text (an empty one
    too) is quoted, datetimes carry their offset. Written by polars, not row by row in Python."""
    buf = io.BytesIO()
    _pg_ready(frame).write_csv(
        buf,
        include_header=False,
        quote_style="non_numeric",
        null_value="",
        date_format="%Y-%m-%d",
        datetime_format="%Y-%m-%dT%H:%M:%S%.6f%:z",
    )
    return buf.getvalue()


def insert_frame(conn: Connection, table: Table, frame: pl.DataFrame) -> int:
    """Insert every row of `frame` (its columns are columns of `table`) in the current transaction; the count."""
    if frame.height == 0:
        return 0
    unknown = [c for c in frame.columns if c not in table.c]
    if unknown:
        raise ValueError(f"columns not in {table.name}: {unknown}")
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in frame.columns)
    quoted = conn.dialect.identifier_preparer.format_table(table)
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {quoted} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(_pg_csv(frame))
    else:
        marks = ", ".join("?" for _ in frame.columns)
        conn.exec_driver_sql(f"INSERT INTO {quoted} ({names}) VALUES ({marks})", _sqlite_rows(frame))
    return frame.height


READ_CHUNK = 20_000  # rows turned into Python values at a time (memory stays flat however many rows)


def read_frame(conn: Connection, stmt: Select[Any]) -> pl.DataFrame:  # a Select of table columns
    """The rows of a SELECT as a frame: fetched from the driver in chunks, without SQLAlchemy's per-value
    result processing; on SQLite the text of dates, datetimes (UTC) and booleans is converted column-wise.
    The statement's parameters are inlined (only for trusted values: ids, codes)."""
    from sqlalchemy import Boolean, Date, DateTime

    names = [c.name for c in stmt.selected_columns]
    types = {c.name: c.type for c in stmt.selected_columns}
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    result = conn.exec_driver_sql(sql)
    cursor = result.cursor  # the driver's own cursor: its tuples, without SQLAlchemy's Row for each (a sixth less CPU)
    parts: list[pl.DataFrame] = []
    try:
        while rows := cursor.fetchmany(READ_CHUNK):
            parts.append(pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None))
    finally:
        result.close()
    if not parts:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.Null))
    frame = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
    if conn.dialect.name != "sqlite":
        return frame
    fixes = []
    for name, kind in types.items():
        if frame.schema[name] != pl.String and frame.schema[name] != pl.Int64:
            continue
        if isinstance(kind, DateTime):
            fixes.append(
                pl.col(name)
                .cast(pl.String)
                .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
                .dt.replace_time_zone("UTC")
            )
        elif isinstance(kind, Date):
            fixes.append(pl.col(name).cast(pl.String).str.to_date("%Y-%m-%d"))
        elif isinstance(kind, Boolean):
            fixes.append(pl.col(name).cast(pl.Boolean))
    return frame.with_columns(fixes) if fixes else frame
