"""The eval loop for engines that hand back each completion as it arrives (served engines).

Every pending request is started at once (the engine keeps ``concurrency`` per endpoint in flight);
each completion is graded as it comes and stored in small transactions: as soon as ``flush_every_n``
samples wait, or the oldest waiting sample has waited ``flush_every_s``. No request waits for a slower
one, and a killed process loses the requests in flight and at most the last second's completions,
never writing a sample twice (the store's key is (run, problem, sample)). On any error the
completions already received are stored before the error goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from qmr_core.benchmarks import Problem
from qmr_core.engines.base import Decoding, Generation
from qmr_core.engines.completions import Completions
from qmr_core.evaluate import BatchStats, RunPlan, sample_rows, write_batch
from qmr_core.prompts import Messages
from qmr_core.store import Store

FLUSH_EVERY_S = 1.0
FLUSH_EVERY_N = 32


class StreamingEngine(Protocol):
    def stream(self, requests: list[tuple[Messages, int]], decoding: Decoding) -> Completions: ...


def pending_order(pending: list[tuple[Problem, int]]) -> list[tuple[Problem, int]]:
    """Sample index first, then longest prompts first (the long ones start early, as in batch mode)."""
    return sorted(pending, key=lambda item: (item[1], -len(item[0].problem)))


class _Buffer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.samples: list[dict] = []
        self.steps: list[dict] = []
        self.since = 0.0

    def add(self, sample: dict, steps: list[dict]) -> None:
        if not self.samples:
            self.since = time.monotonic()
        self.samples.append(sample)
        self.steps += steps

    def due(self, every_n: int, every_s: float) -> bool:
        return bool(self.samples) and (len(self.samples) >= every_n or time.monotonic() - self.since >= every_s)

    def wait_s(self, every_s: float) -> float | None:
        return max(0.0, self.since + every_s - time.monotonic()) if self.samples else None

    def flush(self) -> None:
        if self.samples:
            write_batch(self.store, self.samples, self.steps)
            self.samples, self.steps = [], []


def execute_streaming(store: Store, plan: RunPlan, engine: StreamingEngine, stats: BatchStats,
                      on_progress: Callable[[BatchStats], None] | None = None,
                      flush_every_n: int = FLUSH_EVERY_N, flush_every_s: float = FLUSH_EVERY_S) -> BatchStats:
    """Generate, grade and store every pending sample of ``plan`` as its request completes."""
    items = pending_order(plan.pending)
    started = time.perf_counter()
    buffer = _Buffer(store)
    handle = engine.stream([(plan.template.render(p), idx) for p, idx in items], plan.decoding)
    try:
        while handle.received < handle.total:
            got = handle.next(timeout=buffer.wait_s(flush_every_s))
            if got is not None:
                i, gen = got
                _take(buffer, stats, plan.run_id, items[i], gen)
                stats.seconds = time.perf_counter() - started
                if on_progress:
                    on_progress(stats)
            if buffer.due(flush_every_n, flush_every_s):
                buffer.flush()
        buffer.flush()
    except BaseException:
        handle.close()
        try:
            buffer.flush()  # completed samples are good samples, whatever stopped the rest
        except Exception:
            pass
        raise
    handle.close()
    return stats


def _take(buffer: _Buffer, stats: BatchStats, run_id: str, item: tuple[Problem, int], gen: Generation) -> None:
    problem, sample_idx = item
    sample, steps = sample_rows(run_id, problem, sample_idx, gen)
    buffer.add(sample, steps)
    stats.done += 1
    stats.correct += int(sample["correct"])
    stats.tokens += gen.n_tokens
