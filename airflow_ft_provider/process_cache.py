"""What the hooks of one connection share in this process, and the one way to forget it all.

A triggerer runs thousands of triggers of a few connections, and a bulk cancel runs dozens of
threads on one: each connection's setup (its parsed settings and masked secrets), its Google token,
its request budget, its async client pool and its job watcher exist once per process and are
found here. Entries are keyed by what they were built from (a digest of the connection, never a
secret). Objects bound to an event loop are kept per loop, and go with it.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ProcessCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: dict[Hashable, Any] = {}
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The entry for ``key``, made on first use (if two threads race, the first one's is kept)."""
        with self._lock:
            if key in self._shared:
                return self._shared[key]
        made = make()
        with self._lock:
            return self._shared.setdefault(key, made)

    def peek(self, key: Hashable) -> Any:
        with self._lock:
            return self._shared.get(key)

    def put(self, key: Hashable, value: T) -> T:
        with self._lock:
            return self._shared.setdefault(key, value)

    def on_loop(self) -> dict[Hashable, Any]:
        """The running event loop's own entries (async clients and watchers are bound to a loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            return self._loops.setdefault(loop, {})

    def reset(self) -> None:
        """Forget everything (tests, and a process that must read its connections afresh)."""
        with self._lock:
            self._shared.clear()
            self._loops.clear()

    async def aclose(self) -> None:
        """Close the running loop's clients and watchers, then forget everything."""
        with self._lock:
            entries = list(self._loops.pop(asyncio.get_running_loop(), {}).values())
        for entry in entries:
            close = getattr(entry, "aclose", None)
            if close is not None:
                await close()
        self.reset()


#: The process's one cache.
process_cache = ProcessCache()
