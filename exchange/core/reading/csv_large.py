"""A plain CSV of many lines read vectorised with polars: past a few hundred lines, Python lists cost more per cell."""

from __future__ import annotations

import polars as pl

from exchange.core.reading.header import match_header
from exchange.core.reading.result import ReadResult, frame_schema, refused
from schemas.anomalies import Anomaly
from schemas.declaration import Kind, columns
from schemas.fields import plural


def large_table(lines: list[str]) -> tuple[list[str], pl.DataFrame]:
    """Header fields and body cells (`ligne`, `n` fields, `c0`…) of the physical lines of a text holding no `"`."""
    df = (
        pl.DataFrame({"texte": lines}, schema={"texte": pl.String()})
        .with_row_index("ligne", offset=1)
        .with_columns(pl.col("ligne").cast(pl.Int64))
        .filter(pl.col("texte").str.replace_all(";", "", literal=True).str.strip_chars() != "")
    )
    if df.height == 0:
        return [], df
    header = df["texte"][0].split(";")
    body = (
        df.slice(1)
        .with_columns(pl.col("texte").str.split(";").alias("champs"))
        .select(
            "ligne",
            pl.col("champs").list.len().cast(pl.Int64).alias("n"),
            *[pl.col("champs").list.get(i, null_on_oob=True).alias(f"c{i}") for i in range(len(header))],
        )
    )
    return header, body


def large_csv(lines: list[str], kind: Kind, encoding: str, notes: list[Anomaly]) -> ReadResult:
    """The raw frame of a plain CSV from its physical lines, or its blocking anomaly (as csv_reader.table_result)."""
    names, body = large_table(lines)
    del lines  # the frame holds the text now: drop the Python strings before building the raw frame
    if body.height == 0:
        return refused(Anomaly.of("F01", "sans_enregistrement"), encoding, notes)
    header = match_header(names, kind)
    if isinstance(header, Anomaly):
        return refused(header, encoding, notes)
    width = len(header)
    wrong = body.filter(pl.col("n") != width).head(1)
    if wrong.height:
        return refused(
            Anomaly.of(
                "F03",
                "nombre_champs",
                ligne=wrong["ligne"][0],
                detail=f"{plural(int(wrong['n'][0]), 'champ', 'champs')} au lieu de {width}",
            ),
            encoding,
            notes,
        )
    for i, name in enumerate(header):
        if name is None and body[f"c{i}"].str.strip_chars().fill_null("").ne("").any():
            return refused(
                Anomaly.of("F03", "colonne_inconnue", detail=f"colonne n° {i + 1} sans nom"), encoding, notes
            )
    values = {name: body[f"c{i}"] for i, name in enumerate(header) if name is not None}
    data: dict[str, object] = {"ligne": body["ligne"]}
    for col in columns(kind):
        data[col] = values[col] if col in values else [None] * body.height
    cleaned = pl.col(pl.String).str.strip_chars()
    frame = pl.DataFrame(data, schema=frame_schema(kind))
    return ReadResult(
        frame=frame.with_columns(pl.when(cleaned == "").then(None).otherwise(cleaned).name.keep()),
        anomalies=notes,
        encoding=encoding,
    )
