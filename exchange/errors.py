"""The project's error tree: one base, each error marked where it is raised (transient or terminal; run or file).

    ExchangeError                      every error this project raises on purpose
    ├── TransientError                 retrying later may succeed (a source or database away, a lost lock)
    └── TerminalError                  retrying the same thing will not help (a refusal, a defect, bad input)

Two markers, read by whoever handles the error — never its class:
- `transient`: True when the same operation may succeed if tried again later (SFTP reconnects and retries it);
- `stops_run`: True when nothing more can be done in this job now (the cycle stops the run, every file
  keeps its state for the next one); False when only this one file waits or fails and the run goes on.

Concrete errors (where they are raised): exchange.edges.transport.base (TransportError, Refused, FileTooLarge,
HostKeyError), exchange.edges.transport.sftp_pipeline (RemoteRefusal, LocalCopyFailed), exchange.store.ledger
(JobAborted, LedgerConflict, StateConflict), exchange.store.fences (LockLost), exchange.store.errors
(DatabaseUnavailable: the one translation of database errors into French), exchange.store.revision
(SchemaError), exchange.store.operators (OperatorError), exchange.config (ConfigError), exchange.app.cycle
(MissingFromArchive, ReplayRefused), exchange.edges.habtiers (MigrationError), exchange.core.reading.workbook
(BookError, BookTooLarge: caught by the workbook reader, which answers F01/F07).
"""

from __future__ import annotations

from typing import ClassVar


class ExchangeError(Exception):
    """Base of every error the project raises on purpose; its message is French, for an operator."""

    transient: ClassVar[bool] = False
    stops_run: ClassVar[bool] = True


class TransientError(ExchangeError):
    """The operation may succeed if tried again later: an outage, not a defect."""

    transient = True


class TerminalError(ExchangeError):
    """Trying the same thing again will not help: a refusal, a defect or bad input."""

    transient = False
