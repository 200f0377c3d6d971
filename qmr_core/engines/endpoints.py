"""Several OpenAI-compatible servers behind one engine: pick the least busy live one per request.

An endpoint that fails (connection error, timeout, 429/5xx) is set aside for a while that doubles
with each consecutive failure and resets on its next success; a request that failed on it is sent to
another live endpoint at once, and only waits (with the caller's backoff) when every endpoint is set
aside. Data parallelism is the servers' own affair (vLLM `--data-parallel-size`, several replicas on
several machines); this only spreads qmr's requests across their addresses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Endpoint:
    url: str
    client: httpx.AsyncClient | None = None
    in_flight: int = 0
    answered: int = 0  # successful requests
    failed: int = 0  # failed attempts, all time
    streak: int = 0  # consecutive failed attempts
    down_until: float = 0.0  # monotonic time before which the endpoint is avoided

    def up(self, now: float) -> bool:
        return self.down_until <= now


@dataclass
class EndpointPool:
    urls: tuple[str, ...]
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    endpoints: list[Endpoint] = field(init=False)

    def __post_init__(self) -> None:
        self.endpoints = [Endpoint(u) for u in self.urls]

    def pick(self, avoid: Endpoint | None = None) -> Endpoint:
        """The live endpoint with the fewest requests in flight (ties: the one that answered fewest),
        preferring any other than ``avoid``; when none is live, the one that comes back first."""
        now = time.monotonic()
        live = [e for e in self.endpoints if e.up(now) and e is not avoid] or [e for e in self.endpoints if e.up(now)]
        if live:
            return min(live, key=lambda e: (e.in_flight, e.answered))
        return min(self.endpoints, key=lambda e: e.down_until)

    def other_live(self, endpoint: Endpoint) -> bool:
        now = time.monotonic()
        return any(e is not endpoint and e.up(now) for e in self.endpoints)

    def succeeded(self, endpoint: Endpoint) -> None:
        endpoint.answered += 1
        endpoint.streak = 0
        endpoint.down_until = 0.0

    def failed(self, endpoint: Endpoint) -> None:
        endpoint.failed += 1
        endpoint.streak += 1
        pause = min(self.backoff_s * 2 ** (endpoint.streak - 1), self.max_backoff_s)
        endpoint.down_until = max(endpoint.down_until, time.monotonic() + pause)

    def counts(self) -> dict[str, dict[str, int]]:
        return {e.url: {"answered": e.answered, "failed": e.failed} for e in self.endpoints}
