"""The hand-over between the engine's request loop (its own thread) and the caller's thread."""

from __future__ import annotations

import queue
from typing import Any

from qmr_core.engines.base import Generation


class Completions:
    """Completions of a ``stream`` call as they arrive: ``next(timeout)`` gives (request index,
    Generation), None when nothing arrived in time, and raises the first request failure."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.received = 0
        self._queue: queue.Queue = queue.Queue()
        self._future: Any = None

    def put(self, item: tuple[str, Any]) -> None:
        self._queue.put(item)

    def next(self, timeout: float | None = None) -> tuple[int, Generation] | None:
        try:
            kind, value = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if kind == "error":
            raise value
        self.received += 1
        return value

    def close(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.cancel()
