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
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        version = self._version()
        if version is not None:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None and hit[0] == version:
                    self._items.move_to_end(key)
                    return hit[1]  # type: ignore[return-value]
        value = compute()  # outside the lock: two page views may compute at once, both right
        if version is not None:
            with self._lock:
                self._items[key] = (version, value)
                self._items.move_to_end(key)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return value


__all__ = ["VersionedMemo"]
