"""The state of one equivalence check, shared by the comparisons it makes."""

from __future__ import annotations

import time
from typing import Any

from . import bounded
from .rounding import Rounding

QUEUE_SLACK_S = 0.05  # a timeout after a longer wait for a worker is not cached


class Check:
    """One equivalence check: its deadline, the rounding the problem asks for, the rule that decided
    it, and whether it ran out of time (``busy``: partly queued for a worker, so not cached)."""

    def __init__(self, budget: float, rounding: Rounding | None = None) -> None:
        self.deadline = time.monotonic() + budget
        self.rounding = rounding
        self.busy = False
        self.timed_out = False
        self.error = False
        self.rule: str | None = None
        self.used_worker = False

    def note(self, rule: str) -> None:
        if self.rule is None:
            self.rule = rule

    def worker(self, payload: dict[str, Any]) -> bool:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.timed_out = True
            return False
        self.used_worker = True
        waited: list[float] = []
        res = bounded.pool().call(payload, remaining, waited)
        if res in (bounded.TIMEOUT, bounded.BUSY):
            self.timed_out = True
            # out of time before the check could start, or with part of its time spent queued
            self.busy |= res == bounded.BUSY or sum(waited) > QUEUE_SLACK_S
            return False
        if res == bounded.ERROR or not isinstance(res, dict) or res.get("ok") is None:
            self.error = True
            return False
        return bool(res["ok"])
