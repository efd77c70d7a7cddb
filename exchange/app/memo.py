"""Results of the console's heavy reads, each kept until the data it read changes (a version the store gives)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class VersionedMemo:
    """Remembers `compute()` under `key` with the data version read just before it (`version()`, e.g.
    store.reads.campaign.campaign_data_version); a later call gets it back while the version is the same, and computes
    again once it moved. A version of None (data being written) is never remembered. At most `size` keys, the
    least recently used forgotten first. Callers must not mutate what they get back."""

    def __init__(self, version: Callable[[], Hashable | None], size: int = 64) -> None:
        self._version, self._size = version, size
        self._items: OrderedDict[Hashable, tuple[Hashable, object]] = OrderedDict()
        self._computes: dict[Hashable, Callable[[], object]] = {}  # how each key was computed, for refresh()
        self._asked: set[Hashable] = set()  # keys asked for since the last refresh()
        self._lock = threading.Lock()

    def version(self) -> Hashable | None:
        """The data version now (None while data is being written)."""
        return self._version()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        return self._get(key, compute, self._version())

    def _get(self, key: Hashable, compute: Callable[[], T], version: Hashable | None, asked: bool = True) -> T:
        with self._lock:
            if asked:  # a page view (a refresh does not count: a key nobody asks for again is refreshed once)
                self._asked.add(key)
            self._computes[key] = compute
            hit = self._items.get(key) if version is not None else None
            if hit is not None and hit[0] == version:
                self._items.move_to_end(key)
                return hit[1]  # type: ignore[return-value]
        value = compute()  # outside the lock: two page views may compute at once, both right
        if version is not None:
            with self._lock:
                self._items[key] = (version, value)
                self._items.move_to_end(key)
                while len(self._items) > self._size:
                    old, _ = self._items.popitem(last=False)
                    self._computes.pop(old, None)
        return value

    def refresh(self) -> list[Hashable]:
        """Computes again, now, every key asked for since the last refresh whose value is older than the data
        (a background thread calls it once a run or an import moved the version, so that the next page view finds
        them ready); the keys computed. Nothing while data is being written."""
        version = self._version()
        if version is None:
            return []
        with self._lock:
            stale = [
                (key, self._computes[key])
                for key in self._asked
                if key in self._computes and (key not in self._items or self._items[key][0] != version)
            ]
            self._asked = set()
        for key, compute in stale:
            self._get(key, compute, version, asked=False)
        return [key for key, _ in stale]


__all__ = ["VersionedMemo"]
