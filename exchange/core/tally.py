"""What a job run did, accumulated file by file: the counts its run record and its summary show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RunTally:
    """What a run did, accumulated file by file."""

    files_seen: int = 0
    by_statut: Counter[str] = field(default_factory=Counter[str])
    records_in: int = 0
    records_accepted: int = 0
    records_rejected: int = 0
    anomaly_counts: Counter[str] = field(default_factory=Counter[str])
    outputs: list[str] = field(default_factory=list)
    refused_names: list[str] = field(default_factory=list)
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, statut: str, records_in: int, accepted: int, rejected: int, codes: list[str]) -> None:
        self.files_seen += 1
        self.by_statut[statut] += 1
        self.records_in += records_in
        self.records_accepted += accepted
        self.records_rejected += rejected
        self.anomaly_counts.update(codes)
