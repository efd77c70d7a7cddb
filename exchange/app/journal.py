"""Who asks a use case to act, and the one journal line the use case writes for it (the console and the CLI alike)."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.store.engine import Engine, in_transaction
from exchange.store.operators import record_audit


@dataclass(frozen=True)
class Actor:
    """A console login (with its client address) or `cli:<unix user>` (with the command typed)."""

    login: str
    address: str | None = None
    command: str | None = None  # the command line, for a command-line user

    def record(
        self,
        engine: Engine,
        action: str,
        outcome: str,
        target: str | None,
        detail: str,
        *,
        siret: str | None = None,
        file_id: int | None = None,
    ) -> None:
        """Write the use case's journal line as this actor (the file's Esat is found from `file_id`)."""
        if self.command:
            detail = f"{detail} [{self.command}]"
        in_transaction(
            engine,
            record_audit,
            self.login,
            action,
            outcome,
            target,
            detail,
            self.address,
            siret=siret,
            file_id=file_id,
        )
