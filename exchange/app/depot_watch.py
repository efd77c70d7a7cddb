"""The console's watch on the drop area: one background thread lists every account's depot/ on a timer and keeps
what it found, when, and since when the drop area does not answer; page views read that state, never the drop area."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange.core.clock import PARIS, utcnow
from exchange.edges.transport.base import Entry, HostKeyError, Refused, Transport, TransportError
from exchange.edges.transport.causes import french_cause

log = logging.getLogger("esat_exchange")
Listed = dict[str, list[Entry] | None]  # each account's depot/ entries (None: its depot/ refused)
# once connected, a listing may take longer (thousands of accounts): it is « injoignable » after this many patiences
LISTING_PATIENCE_FACTOR = 6


@dataclass(frozen=True)
class DepotState:
    """What the console knows of the drop area at `checked_at`: the last listing that succeeded (`listed`, made at
    `listed_at`), since when the drop area does not answer (`unreachable_since`: the start of the first listing
    after it that failed, or that has waited longer than the watch's patience) and why, in French (`error`)."""

    checked_at: datetime
    listed: Listed | None = None
    listed_at: datetime | None = None
    unreachable_since: datetime | None = None
    error: str | None = None

    @property
    def up(self) -> bool | None:
        """True when the last listing answered, False when the drop area does not answer, None before any answer."""
        if self.unreachable_since is not None:
            return False
        return None if self.listed_at is None else True

    @property
    def seconds_since_listing(self) -> float | None:
        """Age of the last listing that succeeded (None: none yet)."""
        return None if self.listed_at is None else max(0.0, (self.checked_at - self.listed_at).total_seconds())


def list_every_account(t: Transport) -> Listed:
    """Every account's depot/ entries, in one pass where the transport can (SFTP, local folder)."""
    snapshot = getattr(t, "depot_snapshot", None)
    return snapshot() if snapshot is not None else one_by_one(t)


def one_by_one(t: Transport) -> Listed:
    """Each account's depot/ entries through list_depot (None where it is refused)."""
    listed: Listed = {}
    for account in t.accounts():
        try:
            listing = t.list_depot(account, 0.0, 0)
        except Refused:
            listed[account] = None
            continue
        listed[account] = [*listing.ready, *listing.waiting, *(e for e, _ in listing.refused)]
    return listed


def french_error(error: BaseException) -> str:
    """The line an operator reads for a failed listing: the transport's own French, else a French cause."""
    if isinstance(error, HostKeyError):
        return str(error).split(" / ", 1)[0]  # its English half is for the logs
    if isinstance(error, TransportError):
        return str(error)
    if isinstance(error, OSError):
        return f"lecture de la zone de dépôt impossible : {french_cause(error)}"
    return "erreur inattendue pendant le relevé de la zone de dépôt (voir le journal du service)"


class DepotWatch:
    """Lists the drop area in a background thread every `every_seconds` (at once after `nudge()`), one listing at a
    time; `state()` answers at once from what the last listings found. A listing that has not got its connection
    after `patience_seconds` (or, connected, has not ended after LISTING_PATIENCE_FACTOR times that) makes the
    drop area unreachable since that listing started, so that a server that accepts the connection and never
    answers is reported within seconds, not after the transport's timeouts."""

    def __init__(
        self,
        open_transport: Callable[[], Transport],
        every_seconds: float,
        patience_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._open, self._every, self._patience, self._clock = open_transport, every_seconds, patience_seconds, clock
        self._lock = threading.Lock()  # the fields below
        self._listed: Listed | None = None
        self._listed_at: datetime | None = None
        self._failed_since: datetime | None = None  # the first failed listing since the last one that answered
        self._error: str | None = None
        self._attempt_since: datetime | None = None  # a listing under way since
        self._connected = False  # that listing got its connection (the server answers; listing may take a while)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background lister (once; a later call does nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="console-depot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def nudge(self) -> None:
        """List again now (after an action that changed the drop area: a replay, a launched collect)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            self.list_once()
            self._wake.wait(self._every)

    def list_once(self) -> None:
        """One listing, its outcome kept (the background thread's work; a test may call it directly)."""
        started = self._clock()
        with self._lock:
            self._attempt_since, self._connected = started, False
        try:
            with self._open() as t:
                with self._lock:
                    self._connected = True
                listed = list_every_account(t)
        except Exception as e:  # noqa: BLE001 - every failure is the drop area's state, in French
            if not isinstance(e, (TransportError, OSError)):
                log.exception("relevé de la zone de dépôt : erreur inattendue")
            with self._lock:
                self._attempt_since = None
                self._failed_since = self._failed_since or started
                self._error = french_error(e)
            return
        with self._lock:
            self._attempt_since = None
            self._listed, self._listed_at, self._failed_since, self._error = listed, self._clock(), None, None

    def state(self) -> DepotState:
        """The drop area as last seen, at once (starts the lister if the console's start did not)."""
        if self._thread is None:
            self.start()
        return self.peek()

    def peek(self) -> DepotState:
        """The drop area as last seen, without starting the lister."""
        now = self._clock()
        with self._lock:
            since, error = self._failed_since, self._error
            hung = self._attempt_since
            patience = self._patience * (LISTING_PATIENCE_FACTOR if self._connected else 1)
            if since is None and hung is not None and now - hung > timedelta(seconds=patience):
                since = hung
                error = f"aucune réponse au relevé commencé à {_hhmmss(hung)} (relevé toujours en cours)"
            return DepotState(now, self._listed, self._listed_at, since, error)


def list_within(transport: Transport, patience_seconds: float) -> DepotState:
    """List an unopened transport now, in a thread, waiting no longer than a DepotWatch would before calling the
    drop area unreachable (the command line's `status`: a monitoring check must not hang on a silent server)."""
    watch = DepotWatch(lambda: transport, every_seconds=0, patience_seconds=patience_seconds)
    thread = threading.Thread(target=watch.list_once, name="status-depot", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
        state = watch.peek()
        if state.unreachable_since is not None:
            return state
    return watch.peek()


def _hhmmss(value: datetime) -> str:
    return value.astimezone(PARIS).strftime("%H:%M:%S")


__all__ = ["DepotState", "DepotWatch", "list_every_account", "list_within", "one_by_one", "french_error"]
