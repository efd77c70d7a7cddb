"""The login throttle's rule: after a few failed logins for one (login, client address), each further failure
makes the next attempt wait twice as long, up to a cap; never a lock (another address is not slowed)."""

from __future__ import annotations

from datetime import datetime, timedelta


def delay_seconds(failures: int, free: int, cap: float) -> float:
    """How long to wait after `failures` failed attempts: none for the first `free`, then 1, 2, 4… s up to `cap`."""
    if failures < free:
        return 0.0
    return float(min(2 ** (failures - free), cap))


def retry_at(failures: int, last_failure: datetime, free: int, cap: float) -> datetime:
    """When the next attempt is allowed."""
    return last_failure + timedelta(seconds=delay_seconds(failures, free, cap))
