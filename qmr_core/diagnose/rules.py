"""Rule-based Degenerate detection: repetition loops, truncation at the token limit, no answer.

These need no judge: the evidence is in the sample row (finish_reason, extracted_answer) and in
the text itself. A repetition loop is reported at the step where the repeated text first recurs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MIN_LOOP_CHARS = 12  # a repeated unit shorter than this ("...", "0 0 0") still counts when it repeats often
LOOP_REPEATS = 3


@dataclass(frozen=True)
class RuleVerdict:
    kind: str  # repetition | truncation | no-answer
    first_error_step: int | None
    rationale: str


def _norm(text: str) -> str:
    text = re.sub(r"(?i)^\W*step\s*\d+\s*[:.)\-]\s*", "", text.strip())
    return re.sub(r"\s+", " ", text).lower()


def repeated_step(steps: Sequence[str]) -> tuple[int, str] | None:
    """(index of the first recurrence, text) of a step whose text occurs LOOP_REPEATS times or more."""
    seen: dict[str, list[int]] = {}
    for i, s in enumerate(steps):
        key = _norm(s)
        if len(key) < 4:
            continue
        seen.setdefault(key, []).append(i)
    loops = [(idx[1], key) for key, idx in seen.items() if len(idx) >= LOOP_REPEATS]
    return min(loops) if loops else None


def periodic_tail(text: str, max_period: int = 200) -> tuple[int, int] | None:
    """(start offset, period) when the text ends in >= LOOP_REPEATS copies of one unit."""
    tail = text.rstrip()
    n = len(tail)
    for p in range(1, min(max_period, n // LOOP_REPEATS) + 1):
        unit = tail[n - p :]
        if not unit.strip():
            continue
        reps = 1
        pos = n - p
        while pos - p >= 0 and tail[pos - p : pos] == unit:
            reps += 1
            pos -= p
        if reps >= LOOP_REPEATS and reps * p >= MIN_LOOP_CHARS * 2:
            return pos, p
    return None


def step_at(offset: int, spans: Sequence[tuple[int, int]]) -> int | None:
    """The step holding a character offset; an offset between steps belongs to the next one."""
    for i, (_start, end) in enumerate(spans):
        if offset < end:
            return i
    return len(spans) - 1 if spans else None


def degenerate(
    output: str,
    steps: Sequence[str],
    spans: Sequence[tuple[int, int]],
    finish_reason: str | None,
    extracted_answer: str | None,
    extract_method: str | None = None,
) -> RuleVerdict | None:
    """Degenerate evidence, strongest first: a loop, then truncation before any final answer
    (an answer found only as the last number does not count as one), then no answer at all."""
    rep = repeated_step(steps)
    tail = periodic_tail(output)
    if rep is not None or tail is not None:
        candidates = []
        if rep is not None:
            candidates.append((rep[0], f"step text repeats {LOOP_REPEATS}+ times: {rep[1][:80]!r}"))
        if tail is not None:
            step = step_at(tail[0], spans)
            unit = output.rstrip()[len(output.rstrip()) - tail[1] :]
            candidates.append((step if step is not None else 0, f"the output ends in a loop of {unit[:60]!r}"))
        step, why = min(candidates, key=lambda c: c[0])
        return RuleVerdict("repetition", step, f"repetition loop: {why}")
    no_final = not extracted_answer or extract_method in ("none", "last_number")
    if finish_reason == "length" and no_final:
        last = len(steps) - 1 if steps else None
        return RuleVerdict("truncation", last, "the output hit the token limit before a final answer")
    if not extracted_answer:
        last = len(steps) - 1 if steps else None
        return RuleVerdict("no-answer", last, "the output ends without a final answer")
    return None
