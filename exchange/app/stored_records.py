"""The records a cycle stored, kept in memory (bounded) so that its emission need not read them back."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

KEPT_ROWS = 400_000  # about 150 MiB of `records` rows; beyond, the emission reads the records back from the database
KEY = ["emission_id", "file_id", "ligne"]


@dataclass
class StoredRecords:
    """Rows (`records` columns) put in an emission by transactions that committed, at most `limit` of them:
    past it, nothing more is kept and nothing is offered (the database stays the only source)."""

    limit: int = KEPT_ROWS
    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    overflowed: bool = False
    _by_emission: dict[int, pl.DataFrame] | None = None

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

    def _partitioned(self) -> dict[int, pl.DataFrame]:
        if self._by_emission is None or self.frames:
            every = pl.concat([*(self._by_emission or {}).values(), *self.frames], how="diagonal_relaxed")
            self.frames = []
            self._by_emission = {int(k[0]): p for k, p in every.partition_by("emission_id", as_dict=True).items()}
        return self._by_emission

    def held(self, keys: pl.DataFrame) -> pl.DataFrame | None:
        """The kept rows of exactly these records (`keys`: emission_id, file_id, ligne, as the database holds
        them), in the keys' order; None unless every one is kept, once."""
        if not self.usable or keys.height == 0:
            return None
        by_emission = self._partitioned()
        ids = keys["emission_id"].unique().to_list()
        parts = [by_emission[i] for i in ids if i in by_emission]
        if len(parts) != len(ids):
            return None
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
