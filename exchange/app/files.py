"""Use case: one received file as the console shows it — its facts, anomalies, other receptions, comptes rendus and
whether it may be replayed — read within the operator's perimeter."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.app.comptes_rendus import CompteRenduFile, compte_rendu_files
from exchange.app.replay import replay_check
from exchange.config import Config
from exchange.core.perimeter import Perimeter
from exchange.store.engine import Engine
from exchange.store.reads import files as file_reads


@dataclass(frozen=True)
class FileDetail:
    """Everything the file page shows."""

    row: dict  # the ledger row (its Esat: row["siret"])
    view: dict  # the row as the pages show it (store.file_reads.file_view)
    anomalies: list[dict]  # the first `limit`
    counts: dict[str, int]  # code → how many
    others: list[dict]  # the other receptions of its name
    comptes_rendus: list[CompteRenduFile] | str  # those in retour/, or why the drop area could not be read
    refusal: str | None  # why it may not be replayed now (None: it may)


def file_detail(config: Config, engine: Engine, file_id: int, *, perimeter: Perimeter, limit: int) -> FileDetail | None:
    """The file `file_id` within `perimeter` (None outside it or unknown: the same answer)."""
    with engine.connect() as conn:
        row = file_reads.get_file(conn, file_id, perimeter=perimeter)
        if row is None:
            return None
        anomalies = file_reads.file_anomalies(conn, file_id, limit=limit, perimeter=perimeter)
        counts = file_reads.file_anomaly_counts(conn, file_id, perimeter=perimeter)
        others = file_reads.other_receptions(conn, row["account"], row["name"], file_id, perimeter=perimeter)
        latest = file_reads.latest_answered_of_name(conn, row["account"], row["name"], perimeter=perimeter)
    return FileDetail(
        row,
        file_reads.file_view(row),
        anomalies,
        counts,
        others,
        compte_rendu_files(config, row, latest),
        replay_check(engine, file_id)[1],
    )


__all__ = ["FileDetail", "file_detail"]
