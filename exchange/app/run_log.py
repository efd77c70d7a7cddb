"""The live log of a run: while a recorded run is in progress, what its thread logs goes to `run_log`.

`capture(engine, run_id)` attaches a handler to the `esat_exchange` logger that keeps only the records emitted
by the thread running the job (the console and the scheduler run other things in other threads), passes them
through the same guards as the log formatters (safe_text, NIR masking) and hands them to a writer thread,
which appends them in batches (every FLUSH_SECONDS or FLUSH_LINES lines, and at the end), each batch in its own
short transaction (exchange.store.run_log), never inside the pipeline's fenced transactions. The run never
waits on the database for its log: should a write fail, the log of this run is dropped with one warning.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from exchange.core.safe_text import safe_text
from exchange.logs import scrub
from exchange.store import run_log as stored_log
from exchange.store.engine import Engine, in_transaction

log = logging.getLogger("esat_exchange")
FLUSH_SECONDS = 1.0
FLUSH_LINES = 200
MAX_PENDING = 50_000  # lines waiting for a slow database: beyond, the log of this run is dropped
CLOSE_SECONDS = 5.0  # the end of the run waits at most this long for its last lines to be written
HIDDEN = ("run_id", "job")  # every line of a run has them: the table says them once
# an event field marking a line about the run as a whole that names no Esat, file, account or Caf (its start, its
# end): every perimeter reads it. Any other line is read by the perimeter of its `account` or its Caf (`code_caf`),
# and a line about neither by national operators only (exchange.store.run_log).
GENERAL = "general"


def _guarded(value: object) -> object:
    """A field's value as the log formatters would write it: one safe line, no full NIR."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        text = str(value)
        return value if scrub(text) == text else scrub(text)
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return scrub(safe_text(value))


def line_of(record: logging.LogRecord) -> dict[str, Any]:
    """One `run_log` line from a log record: Paris-agnostic UTC time, level, guarded message and fields."""
    message = safe_text(record.getMessage())
    if record.exc_info:
        message += "\n" + safe_text(logging.Formatter().formatException(record.exc_info), keep_lines=True)
    event = getattr(record, "event", {}) or {}
    fields = {k: _guarded(v) for k, v in event.items() if k not in HIDDEN and v not in (None, "")}
    general = bool(fields.pop(GENERAL, False))
    account, caf = fields.get("account"), fields.get("code_caf")
    return {
        "at": datetime.fromtimestamp(record.created, UTC),
        "level": record.levelname,
        "message": scrub(message),
        "fields": fields or None,
        "account": str(account) if account is not None else None,
        "caf": str(caf)[:3] if caf is not None else None,
        "general": general and account is None and caf is None,
    }


class RunLogHandler(logging.Handler):
    """Keeps the records of one thread for one run and writes them in batches from its own writer thread."""

    def __init__(
        self,
        engine: Engine,
        run_id: int,
        thread: int | None = None,
        *,
        append: Callable[[Engine, int, list[dict[str, Any]]], int] | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        flush_lines: int = FLUSH_LINES,
    ) -> None:
        super().__init__(logging.NOTSET)
        self.engine, self.run_id, self.append = engine, run_id, append or _append_lines
        self.thread = thread if thread is not None else threading.get_ident()
        self.flush_seconds, self.flush_lines = flush_seconds, flush_lines
        self.written = 0
        self.dropped = False
        self._pending: list[dict[str, Any]] = []
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch at a time: lines are written in their order
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._writer = threading.Thread(target=self._loop, name=f"journal-execution-{run_id}", daemon=True)
        self._writer.start()

    # -- the run's thread: cheap, never touches the database
    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread or self.dropped:
            return
        try:
            line = line_of(record)
        except Exception:  # noqa: BLE001 - a record the guards cannot shape is not worth failing the run
            return
        with self._pending_lock:
            self._pending.append(line)
            n = len(self._pending)
        if n > MAX_PENDING:  # the writer is stuck on a database that does not answer: stop keeping lines
            self._drop(f"{n} lignes en attente d'écriture")
        elif n >= self.flush_lines:
            self._wake.set()

    # -- the writer thread
    def _loop(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._write()
        self._write()

    def _write(self) -> None:
        with self._write_lock:
            with self._pending_lock:
                lines, self._pending = self._pending, []
            if not lines or self.dropped:
                return
            try:
                self.written += self.append(self.engine, self.run_id, lines)
            except Exception as e:  # noqa: BLE001 - the database away, or anything else: the run goes on
                self._drop(f"{e.__class__.__name__}: {e}".splitlines()[0][:300])

    def _drop(self, why: str) -> None:
        with self._pending_lock:
            if self.dropped:
                return
            self.dropped = True  # from now on, emit keeps nothing: the run's own thread is never slowed
            self._pending.clear()
        log.warning(
            f"journal de l'exécution n° {self.run_id} abandonné (écriture impossible : {why}) ; l'exécution continue",
            extra={"event": {"run_id": self.run_id}},
        )

    def close(self) -> None:
        """Write the last lines (waiting at most CLOSE_SECONDS), then stop the writer."""
        self._closing.set()
        self._wake.set()
        if self._writer is not threading.current_thread():
            self._writer.join(CLOSE_SECONDS)
        super().close()


_level_lock = threading.Lock()
_raised = 0  # captures that set the logger's level to INFO because nothing had configured it


@contextmanager
def capture(
    engine: Engine,
    run_id: int | None,
    *,
    append: Callable[[Engine, int, list[dict[str, Any]]], int] | None = None,
    flush_seconds: float = FLUSH_SECONDS,
    flush_lines: int = FLUSH_LINES,
) -> Iterator[RunLogHandler | None]:
    """While inside, what this thread logs on `esat_exchange` is the log of run `run_id` (none when None)."""
    global _raised
    if run_id is None:
        yield None
        return
    handler = RunLogHandler(engine, run_id, append=append, flush_seconds=flush_seconds, flush_lines=flush_lines)
    with _level_lock:
        if log.level == logging.NOTSET:  # logging never configured (a library use, tests): INFO is the default
            log.setLevel(logging.INFO)
            _raised += 1
        elif _raised:
            _raised += 1
        log.addHandler(handler)
    try:
        yield handler
    finally:
        with _level_lock:
            log.removeHandler(handler)
            if _raised:
                _raised -= 1
                if not _raised:
                    log.setLevel(logging.NOTSET)
        handler.close()


__all__ = ["GENERAL", "RunLogHandler", "capture", "line_of"]


def _append_lines(engine: Engine, run_id: int, lines: list[dict[str, Any]]) -> int:
    """store.run_log.append_lines in a short transaction of its own."""
    return in_transaction(engine, stored_log.append_lines, run_id, lines)  # looked up at each call
