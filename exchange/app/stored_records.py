"""The records a cycle stored, kept in memory (bounded) so that its emission need not read them back."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

KEPT_ROWS = 1_500_000  # about 350 MiB of `records` rows (a national campaign: 120 000, 27 MiB); beyond, read back
KEY = ["emission_id", "file_id", "ligne"]


@dataclass
class StoredRecords:
    """Rows (`records` columns) put in an emission by transactions that committed, at most `limit` of them:
    past it, nothing more is kept and nothing is offered (the database stays the only source)."""

    limit: int = KEPT_ROWS
    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    overflowed: bool = False
    _by_emission: dict[int, list[pl.DataFrame]] | None = None

    def add(self, committed: list[pl.DataFrame]) -> None:
        """The rows of a transaction that committed."""
        if self.overflowed:
            return
        self.rows += sum(f.height for f in committed)
        if self.rows > self.limit:
            self.overflowed, self.frames = True, []
            return
        self.frames.extend(f for f in committed if f.height)

    @property
    def usable(self) -> bool:
        return not self.overflowed and (bool(self.frames) or bool(self._by_emission))

    def _partitioned(self) -> dict[int, list[pl.DataFrame]]:
        """The kept rows by emission, each frame cut as it is moved (never all of them copied at once)."""
        if self._by_emission is None:
            self._by_emission = {}
        while self.frames:
            frame = self.frames.pop(0)
            for (emission_id,), part in frame.partition_by("emission_id", as_dict=True).items():
                self._by_emission.setdefault(int(emission_id), []).append(part)
        return self._by_emission

    def held(self, keys: pl.DataFrame) -> pl.DataFrame | None:
        """The kept rows of exactly these records (`keys`: emission_id, file_id, ligne, as the database holds
        them), in the keys' order; None unless every one is kept, once."""
        if not self.usable or keys.height == 0:
            return None
        by_emission = self._partitioned()
        ids = keys["emission_id"].unique().to_list()
        if any(i not in by_emission for i in ids):
            return None
        parts = [part for i in ids for part in by_emission[i]]
        kept = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
        if kept.select(KEY).is_duplicated().any():
            return None
        typed = keys.select(pl.col(k).cast(kept.schema[k]) for k in KEY)
        found = typed.join(kept, on=KEY, how="inner", maintain_order="left")
        return found if found.height == keys.height else None

    def drop(self, emission_ids: list[int]) -> None:
        """These emissions are written: their rows are no longer needed."""
        if self._by_emission is not None:
            for i in emission_ids:
                self._by_emission.pop(i, None)
