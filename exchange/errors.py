"""The project's error tree: one base, each error marked where it is raised (transient or terminal; run or file).

    ExchangeError                      every error this project raises on purpose
    ├── TransientError                 retrying later may succeed (a source or database away, a lost lock)
    └── TerminalError                  retrying the same thing will not help (a refusal, a defect, bad input)

Two markers, read by whoever handles the error — never its class:
- `transient`: True when the same operation may succeed if tried again later (SFTP reconnects and retries it);
- `stops_run`: True when nothing more can be done in this job now (the cycle stops the run, every file
  keeps its state for the next one); False when only this one file waits or fails and the run goes on.

Where each marker is read: the cycle's one decision (exchange.app.cycle._decide) stops the run on `stops_run`,
else lets the file wait (drop-area steps) or sets it aside (judging); SFTP retries what is `transient`; the job
wrapper (exchange.app.job) records any other error as the run's ECHEC. Database errors are SQLAlchemy's, not
these: exchange.store.errors translates them once (DATABASE_ERRORS, DatabaseUnavailable).

Concrete errors, by module (tests/system/test_errors.py checks this list against the code):
- exchange.config: ConfigError
- exchange.core.reading.workbook: BookError, BookTooLarge
- exchange.core.retention: DurationError
- exchange.edges.transport.base: TransportError, Refused, FileTooLarge, HostKeyError
- exchange.edges.transport.sftp_pipeline: RemoteRefusal, LocalCopyFailed
- exchange.edges.notify: NotifyError
- exchange.edges.oidc: OidcError
- exchange.edges.habtiers: MigrationError
- exchange.store.errors: DatabaseUnavailable
- exchange.store.moves: JobAborted, LedgerConflict
- exchange.store.fences: LockLost
- exchange.store.revision: SchemaError
- exchange.store.backup: BackupError
- exchange.store.operators: OperatorError
- exchange.store.pauses: PauseError
- exchange.app.cycle: MissingFromArchive, ReplayRefused
- exchange.app.accounts: AccountError
- exchange.app.backup: BackupRefused
- exchange.app.personne: NirError
- exchange.web.verify: Refusal
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
