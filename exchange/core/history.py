"""History across files, as frames: W05 (a newer RG record replaces an accepted one, latest reception wins), W06
(a CA event seen before), and the rounds a batch of files is stored in.

Pure: the accepted records of a batch and what the store already holds in, a plan out (RoundPlan: what to
supersede, what to insert, the anomalies); the store (exchange.store.records) reads the rows and applies the plan.
F04 too: which earlier reception a new copy of a content duplicates (duplicate_target).
A batch is stored in rounds: each round holds at most one file per (kind, SIRET), so that the files of one round
never see one another and are joined, matched and inserted together; a later file of the same Esat goes in a
later round and sees what the earlier one stored, as one by one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from exchange.core.clock import french_moment
from exchange.core.vocabulary import ACCEPTED_STATUTS, RECLAME, UNFINISHED_STATES
from schemas.anomalies import ANOMALY_SCHEMA
from schemas.catalogue import rule

FILE, QUERY_SIRET = "__file", "__siret"  # helper columns: the record's file, the SIRET its file is matched on
CA_KEY = ["nir", "type_changement", "date_effet"]
RG_EXISTING: dict[str, Any] = {
    "old_id": pl.Int64,
    "nir": pl.String,
    "earlier_file": pl.Int64,
    "annee_reference": pl.Int32,
    "earlier_received": pl.Datetime("us"),
    "earlier_at": pl.String,
    "earlier_name": pl.String,
    "old_received_at": pl.Datetime("us"),
    QUERY_SIRET: pl.String,
}
CA_EXISTING = {
    "nir": pl.String,
    "type_changement": pl.String,
    "date_effet": pl.Date,
    "earlier_file": pl.Int64,
    "earlier_at": pl.String,
    "earlier_name": pl.String,
    QUERY_SIRET: pl.String,
}


@dataclass(frozen=True)
class Accepted:
    """One judged file whose accepted records are to be stored."""

    file_id: int
    kind: str  # RG / CA
    typed: pl.DataFrame  # typed records with `rejete`
    received_at: datetime  # as read from the ledger (naive = UTC)
    name: str
    caf_gestionnaire: str | None


def history_anomalies(matched: pl.DataFrame, accepted: pl.DataFrame, code: str, field: str) -> pl.DataFrame:
    """W05/W06 rows (with FILE) for the matched records (FILE, `ligne`, `nir`, `earlier_name`, `earlier_at`):
    the earlier file is named by its file name and reception time, as the Esat knows it (never by a ledger id)."""
    r = rule(code)
    schema = {FILE: pl.Int64(), **ANOMALY_SCHEMA}
    if matched.height == 0:
        return pl.DataFrame(schema=schema)
    message = pl.concat_str(
        [
            pl.col("earlier_name") if name == "valeur" else pl.col("earlier_at") if name == "detail" else pl.lit(text)
            for name, text in r.pieces()
        ]
    )
    return (
        matched.join(accepted.select(FILE, "ligne", "nom", "prenoms"), on=[FILE, "ligne"], how="left")
        .select(
            pl.col(FILE).cast(pl.Int64),
            pl.col("ligne").cast(pl.Int64),
            pl.col("nir"),
            pl.lit(code).alias("code"),
            pl.lit(r.severity).alias("gravite"),
            pl.lit(field).alias("champ"),
            message.alias("message"),
            pl.col("nom"),
            pl.col("prenoms"),
        )
        .cast(dict(schema))  # type: ignore[arg-type]  # polars' Mapping key type is wider than str
    )


def with_moment(rows: list[Any], at: int, keep: bool = True) -> list[tuple[Any, ...]]:
    """Rows with their reception datetime (column `at`) followed (keep) or replaced by the French text a
    message shows."""
    return [(*r[: at + (1 if keep else 0)], french_moment(r[at]), *r[at + 1 :]) for r in rows]


def _utc_naive(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def accepted_frame(items: list[Accepted]) -> pl.DataFrame:
    """The accepted records of files of one kind, each with its file's id (FILE), reception time, Caf, name
    and the SIRET its file is matched on (that of its first accepted record): one frame, built with a
    handful of polars calls whatever the number of files."""
    typed = pl.concat([it.typed for it in items], how="diagonal_relaxed")
    owner = pl.Series(FILE, [it.file_id for it in items for _ in range(it.typed.height)], dtype=pl.Int64)
    per_file = pl.DataFrame(
        {
            FILE: [it.file_id for it in items],
            "received_at": [_utc_naive(it.received_at) for it in items],
            "caf_gestionnaire": [it.caf_gestionnaire for it in items],
            "__name": [it.name for it in items],
            "__at": [french_moment(it.received_at) for it in items],
        },
        schema={
            FILE: pl.Int64,
            "received_at": pl.Datetime("us"),
            "caf_gestionnaire": pl.String,
            "__name": pl.String,
            "__at": pl.String,
        },
    )
    return (
        typed.drop([c for c in per_file.columns if c in typed.columns and c != FILE])
        .with_columns(owner)
        .filter(~pl.col("rejete"))
        .with_columns(pl.col("siret_esat").first().over(FILE).cast(pl.String).alias(QUERY_SIRET))
        .join(per_file, on=FILE, how="left", maintain_order="left")
    )


def rounds(accepted: pl.DataFrame) -> list[pl.DataFrame]:
    """The accepted records of one kind in rounds, each with at most one file per SIRET (its first accepted
    record's), files in batch order."""
    files_in_order = accepted.select(FILE, QUERY_SIRET).unique(subset=FILE, keep="first", maintain_order=True)
    rounds: list[list[int]] = []
    depth: dict[str, int] = {}
    for file_id, siret in files_in_order.iter_rows():
        n = depth.get(siret, 0)
        depth[siret] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(file_id)
    if len(rounds) == 1:
        return [accepted]
    return [accepted.filter(pl.col(FILE).is_in(ids)) for ids in rounds]


def rg_replacements(accepted: pl.DataFrame, existing: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """W05: the accepted RG records (FILE, ligne) that replace a record in force of the same Esat, worker and
    year (`existing`, RG_EXISTING), and those that arrive after a newer one: « latest wins » by reception order,
    so a replayed file never replaces what a later file brought. (matched, newer)"""
    matched = accepted.select(
        FILE, "ligne", "nir", QUERY_SIRET, pl.col("annee_reference").cast(pl.Int32), pl.col("received_at").alias("mine")
    ).join(existing, on=[QUERY_SIRET, "nir", "annee_reference"], how="inner")
    later = pl.col("old_received_at").dt.replace_time_zone(None)
    newer = matched.filter(
        (later > pl.col("mine")) | ((later == pl.col("mine")) & (pl.col("earlier_file") > pl.col(FILE)))
    )
    return matched.join(newer.select(FILE, "ligne"), on=[FILE, "ligne"], how="anti"), newer


def with_replacements(accepted: pl.DataFrame, matched: pl.DataFrame, newer: pl.DataFrame) -> pl.DataFrame:
    """The accepted RG records with `replaces_id` (the record each replaces) and `superseded` (a newer one is in force)."""
    return (
        accepted.join(
            matched.select(FILE, "ligne", pl.col("old_id").alias("replaces_id")),
            on=[FILE, "ligne"],
            how="left",
            maintain_order="left",
        )
        .join(
            newer.select(FILE, "ligne", pl.lit(True).alias("superseded")),
            on=[FILE, "ligne"],
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("superseded").fill_null(False))
    )


def ca_repeats(accepted: pl.DataFrame, existing: pl.DataFrame) -> pl.DataFrame:
    """W06: the accepted CA events (FILE, ligne, earlier file) seen before — in an earlier file (`existing`,
    CA_EXISTING, first occurrence of each) or earlier in the same file (the first occurrence is kept)."""
    existing = existing.unique(subset=[QUERY_SIRET, *CA_KEY], keep="first", maintain_order=True)
    seen_before = (
        accepted.select(FILE, "ligne", QUERY_SIRET, *CA_KEY)
        .join(existing, on=[QUERY_SIRET, *CA_KEY], how="inner")
        .drop(QUERY_SIRET)
    )
    firsts = accepted.sort(FILE, "ligne").unique(subset=[FILE, *CA_KEY], keep="first", maintain_order=True)
    repeats = accepted.join(firsts.select(FILE, "ligne"), on=[FILE, "ligne"], how="anti").select(
        FILE,
        "ligne",
        *CA_KEY,
        pl.col(FILE).alias("earlier_file"),
        pl.col("__at").alias("earlier_at"),
        pl.col("__name").alias("earlier_name"),
    )
    return (
        pl.concat([seen_before, repeats], how="vertical_relaxed")
        .unique(subset=[FILE, "ligne"], keep="first")
        .sort(FILE, "ligne")
    )


@dataclass(frozen=True)
class RoundPlan:
    """What storing one round changes: the ids of the records in force to supersede (W05), the records to insert
    (RG: with `replaces_id` and `superseded`; CA: without the W06 repeats), and the W05/W06 anomalies (with FILE)."""

    supersede: list[int]
    insert: pl.DataFrame
    anomalies: pl.DataFrame


def plan_rg(accepted: pl.DataFrame, existing: list[Any]) -> RoundPlan:
    """An RG round against the RG records in force of its Esats and years (rows as RG_EXISTING orders them, the
    reception datetime 5th): each record replaces the one it matches (W05), latest reception wins."""
    matched, newer = rg_replacements(accepted, pl.DataFrame(with_moment(existing, 4), schema=RG_EXISTING, orient="row"))
    return RoundPlan(
        supersede=matched["old_id"].to_list(),
        insert=with_replacements(accepted, matched, newer),
        anomalies=history_anomalies(matched, accepted, "W05", "nir"),
    )


def plan_ca(accepted: pl.DataFrame, existing: list[Any]) -> RoundPlan:
    """A CA round against the CA events of its Esats (rows as CA_EXISTING orders them, the reception datetime 5th,
    in storage order): an event seen before (earlier file, or earlier in the same file) is a W06 repeat, not stored."""
    matched = ca_repeats(accepted, pl.DataFrame(with_moment(existing, 4, keep=False), schema=CA_EXISTING, orient="row"))
    return RoundPlan(
        supersede=[],
        insert=accepted.join(matched.select(FILE, "ligne"), on=[FILE, "ligne"], how="anti"),
        anomalies=history_anomalies(matched, accepted, "W06", "type_changement"),
    )


def duplicate_target(earlier: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The reception a new copy of this content duplicates (rules.md F04, v1.1), among the earlier receptions of
    the same content by the same account (ledger rows, oldest first): the first one that had a record accepted,
    else one still being processed (in this run); None when every earlier reception was rejected whole or set
    aside: then the content is judged again."""
    accepted = [e for e in earlier if e["statut"] in ACCEPTED_STATUTS and e["duplicate_of"] is None]
    if accepted:
        return accepted[0]
    busy = [e for e in earlier if e["state"] in UNFINISHED_STATES and e["state"] != RECLAME]
    return busy[0] if busy else None
