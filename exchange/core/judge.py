"""Judging received files: the file-level checks in the spec's order, file by file, then every record rule
over a whole batch of files at once (one polars pass: the per-call cost is paid once per batch, not per file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from exchange.core.clock import french_moment
from exchange.core.reading import read_declaration
from exchange.core.rules import LOT, XML, check_content, validate_records
from exchange.core.rules.records import HIDDEN
from exchange.core.vocabulary import ACCEPTE, DOUBLON, PARTIEL, REJETE  # noqa: F401 - re-exported
from schemas.anomalies import Anomaly, anomalies_frame
from schemas.declaration import FileName, Kind, other_workbook, parse_file_name
from schemas.reference import load_reference

# Called between F06 and F05 with the file's SIRET; returns the first failing habilitation check
# (or None) and the managing Caf. `check` passes none: it judges without habilitations.
Reconciler = Callable[[str], tuple[Anomaly | None, str | None]]


@dataclass
class Judgement:
    """What the project says about one file."""

    name: str
    kind: Kind | None
    siret: str | None
    statut: str
    anomalies: pl.DataFrame  # ANOMALY_SCHEMA: file-level first (ligne null), then by line
    records: pl.DataFrame | None = None  # typed records with `rejete`, when record rules ran
    caf_gestionnaire: str | None = None
    records_in: int = 0
    records_rejected: int = 0
    file_code: str | None = None  # the file-level code when the file is refused as a whole (or DOUBLON)
    header_line: int = 1  # the file's line holding the header (a workbook's titles above it: v1.3)

    @property
    def records_accepted(self) -> int:
        return self.records_in - self.records_rejected


def rejected_file(
    name: str, anomaly: Anomaly, fname: FileName | None = None, extra: list[Anomaly] | None = None, records_in: int = 0
) -> Judgement:
    """A judgement for a file refused as a whole by one file-level anomaly."""
    items = [anomaly, *(extra or [])]
    return Judgement(
        name=name,
        kind=fname.kind if fname else None,
        siret=fname.siret if fname else None,
        statut=REJETE,
        anomalies=anomalies_frame(items),
        records_in=records_in,
        records_rejected=records_in,
        file_code=anomaly.code,
    )


def duplicate_file(name: str, earlier_name: str, earlier_received_at: datetime) -> Judgement:
    """DOUBLON: the same content was received before as `earlier_name` at `earlier_received_at` (F04 names
    the earlier file as the Esat knows it, never by a ledger id)."""
    fname = parse_file_name(name)
    f04 = Anomaly.of("F04", valeur=earlier_name, detail=french_moment(earlier_received_at))
    return Judgement(
        name=name,
        kind=fname.kind if fname else None,
        siret=fname.siret if fname else None,
        statut=DOUBLON,
        anomalies=anomalies_frame([f04]),
        file_code="F04",
    )


@dataclass(frozen=True)
class Prepared:
    """A file that passed every file-level check: its raw records wait for the record rules."""

    name: str
    fname: FileName
    raw: pl.DataFrame
    notes: list[Anomaly]  # non-blocking file-level anomalies (W07, W09)
    caf_gestionnaire: str | None
    hidden: tuple[int, ...] = ()  # workbook rows hidden in the sheet (W12)
    letters: dict[str, str] | None = None  # workbook: column → letter, shown beside the column in messages
    header_line: int = 1  # the line the header was found on


def prepare(
    data: bytes, name: str, as_of: date, *, max_file_bytes: int, max_records: int, reconcile: Reconciler | None = None
) -> Judgement | Prepared:
    """The file-level checks of rules.md in order (F04 is the ledger's, before this is called):
    a Judgement when the file is refused as a whole, else what the record rules need."""
    if len(data) > max_file_bytes:
        return rejected_file(
            name,
            Anomaly.of("F07", "octets", detail=f"{len(data)} octets pour {max_file_bytes} au plus"),
            parse_file_name(name),
        )
    fname = parse_file_name(name)
    if fname is None:
        workbook = other_workbook(name)
        if workbook is not None:
            return rejected_file(name, Anomaly.of("F02", "tableur", valeur=name, detail=workbook))
        return rejected_file(name, Anomaly.of("F02", valeur=name))
    read = read_declaration(data, fname, max_file_bytes, max_records)
    notes = [a for a in read.anomalies if not a.blocking]  # W07
    if read.blocking is not None or read.frame is None:
        return rejected_file(
            name, read.blocking or Anomaly.of("F01", "illisible", detail="format inconnu"), fname, notes
        )
    raw = read.frame
    if raw.height > max_records:
        return rejected_file(
            name,
            Anomaly.of("F07", "enregistrements", detail=f"{raw.height} pour {max_records} au plus"),
            fname,
            records_in=raw.height,
        )
    content = check_content(raw, fname.kind, fname.siret, as_of)
    f06 = [a for a in content if a.code == "F06" and a.blocking]
    if f06:
        return rejected_file(name, f06[0], fname, notes, raw.height)
    caf_gestionnaire = None
    if reconcile is not None:
        refusal, caf_gestionnaire = reconcile(fname.siret)
        if refusal is not None:
            return rejected_file(name, refusal, fname, notes, raw.height)
    f05 = [a for a in content if a.code == "F05" and a.blocking]
    if f05:
        return rejected_file(name, f05[0], fname, notes, raw.height)
    notes += [a for a in content if not a.blocking]  # W09
    return Prepared(name, fname, raw, notes, caf_gestionnaire, read.hidden, read.letters or None, read.header_line)


def judge_records(batch: list[Prepared], as_of: date) -> list[Judgement]:
    """Every record rule over the records of many files at once (files of one kind and one processing
    date per polars pass); one Judgement per file, in the batch's order."""
    judgements: dict[int, Judgement] = {}
    for kind in ("RG", "CA"):
        members = [(i, p) for i, p in enumerate(batch) if p.fname.kind == kind]
        if not members:
            continue
        raw = pl.concat([p.raw for _, p in members], how="vertical_relaxed").hstack(
            [  # no polars call per file
                pl.Series(LOT, [i for i, p in members for _ in range(p.raw.height)], dtype=pl.Int32()),
                pl.Series(
                    XML,
                    [p.fname.extension == "xml" for _, p in members for _ in range(p.raw.height)],
                    dtype=pl.Boolean(),
                ),
            ]
        )
        if any(p.hidden for _, p in members):
            hidden = [line in p.hidden for _, p in members for line in p.raw.get_column("ligne").to_list()]
            raw = raw.with_columns(pl.Series(HIDDEN, hidden, dtype=pl.Boolean()))
        check = validate_records(raw, kind, as_of, load_reference())
        typed_parts = check.typed.partition_by(LOT, as_dict=True, include_key=False)
        anomaly_parts = check.anomalies.partition_by(LOT, as_dict=True, include_key=False)
        no_anomaly = check.anomalies.drop(LOT).clear()
        for i, p in members:
            typed = typed_parts[(i,)]
            found = anomaly_parts.get((i,), no_anomaly)
            if p.letters and found.height:
                found = with_letters(found, p.letters)
            n_rejected = int(typed["rejete"].sum())
            statut = ACCEPTE if n_rejected == 0 else (REJETE if n_rejected == typed.height else PARTIEL)
            anomalies = pl.concat([anomalies_frame(p.notes), found]) if p.notes else found
            judgements[i] = Judgement(
                name=p.name,
                kind=kind,
                siret=p.fname.siret,
                statut=statut,
                anomalies=anomalies,
                records=typed,
                caf_gestionnaire=p.caf_gestionnaire,
                records_in=typed.height,
                records_rejected=n_rejected,
                header_line=p.header_line,
            )
    return [judgements[i] for i in range(len(batch))]


def with_letters(anomalies: pl.DataFrame, letters: dict[str, str]) -> pl.DataFrame:
    """A workbook's anomalies with each column named with its letter: « (colonne prenoms) » → « (colonne
    prenoms, F) » (formats.md §3.0, v1.2)."""
    old = [f"(colonne {c})" for c in letters]
    new = [f"(colonne {c}, {letter})" for c, letter in letters.items()]
    return anomalies.with_columns(pl.col("message").str.replace_many(old, new))


def judge(
    data: bytes, name: str, as_of: date, *, max_file_bytes: int, max_records: int, reconcile: Reconciler | None = None
) -> Judgement:
    """Every check of rules.md on one file (what `check` runs)."""
    first = prepare(data, name, as_of, max_file_bytes=max_file_bytes, max_records=max_records, reconcile=reconcile)
    return first if isinstance(first, Judgement) else judge_records([first], as_of)[0]
