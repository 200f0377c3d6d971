"""Rule-based Degenerate detection, one finding per subtype, each at the step where it begins.

These need no judge: the evidence is in the sample row (finish_reason, extracted_answer), the
gold answer, the base model's answer and the text itself.

- repetition: at the step where the repeated text first recurs (the loop's first repeat);
- truncation: the output hit the token limit before a final answer; at the step holding the cut;
- no-answer: the output ended (not at the limit) without a final answer; at its last step;
- abandoned: a step before the last derives the gold answer (or the base model's final answer),
  but the final answer differs; at the step after the one that reached it. A value counts as
  derived when it is the step's stated answer (boxed, "the answer is") or the result of the
  step's last "=", is not a number the problem states, and the project's grader (bounded, at
  most ``MAX_ANSWER_CHECKS`` comparisons per sample) finds it equivalent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ANSWER_CHECKS = 40
MIN_LOOP_CHARS = 12  # a repeated unit shorter than this ("...", "0 0 0") still counts when it repeats often
LOOP_REPEATS = 3


@dataclass(frozen=True)
class RuleVerdict:
    kind: str  # repetition | truncation | no-answer | abandoned
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
            return pos + p, p  # the first copy is still content; the loop begins with its first repeat
    return None


def step_at(offset: int, spans: Sequence[tuple[int, int]]) -> int | None:
    """The step holding a character offset; an offset between steps belongs to the next one."""
    for i, (_start, end) in enumerate(spans):
        if offset < end:
            return i
    return len(spans) - 1 if spans else None


def findings(
    output: str,
    steps: Sequence[str],
    spans: Sequence[tuple[int, int]],
    finish_reason: str | None,
    extracted_answer: str | None,
    extract_method: str | None = None,
    *,
    gold: str | None = None,
    base_answer: str | None = None,
    problem: str = "",
    benchmark: str = "math",
) -> list[RuleVerdict]:
    """Every Degenerate subtype found, earliest step first (an answer found only as the last
    number does not count as a final answer)."""
    out: list[RuleVerdict] = []
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
        out.append(RuleVerdict("repetition", step, f"repetition loop: {why}"))
    last = len(steps) - 1 if steps else None
    no_final = not extracted_answer or extract_method in ("none", "last_number")
    if finish_reason == "length" and no_final:
        out.append(RuleVerdict("truncation", last, "the output hit the token limit before a final answer"))
    elif not extracted_answer:
        out.append(RuleVerdict("no-answer", last, "the output ends without a final answer"))
    gone = abandoned(steps, extracted_answer if not no_final else None, gold, base_answer, problem, benchmark)
    if gone is not None:
        out.append(gone)
    return sorted(out, key=lambda f: (f.first_error_step is None, f.first_error_step or 0))


def degenerate(output: str, steps: Sequence[str], spans: Sequence[tuple[int, int]], finish_reason: str | None,
               extracted_answer: str | None, extract_method: str | None = None, **context) -> RuleVerdict | None:
    """The earliest finding, or None."""
    found = findings(output, steps, spans, finish_reason, extracted_answer, extract_method, **context)
    return found[0] if found else None


_LAST_EQ = re.compile(r"=\s*\$?\s*(-?[\d.,/]+(?:\\%|%)?)\s*\$?\s*[^=]*$")
_PROBLEM_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _stated_results(step: str, benchmark: str) -> list[str]:
    from qmr_core.grading.extract import extract

    out = []
    found = extract(step, benchmark)
    if found.answer and found.method not in ("last_number", "none"):
        out.append(found.answer)
    m = _LAST_EQ.search(step)
    if m:
        out.append(m.group(1).rstrip(".,"))
    return out


def abandoned(steps: Sequence[str], final: str | None, gold: str | None, base_answer: str | None, problem: str,
              benchmark: str = "math") -> RuleVerdict | None:
    """The gold (or base) answer derived before the last step, while the final answer differs."""
    from qmr_core.grading.equivalence import is_equivalent

    targets = [("the gold answer", gold)] if gold else []
    if base_answer and not (gold and is_equivalent(gold, base_answer, benchmark)):
        targets.append(("the base model's answer", base_answer))
    targets = [(name, t) for name, t in targets if final is None or not is_equivalent(t, final, benchmark)]
    if not targets or len(steps) < 2:
        return None
    in_problem = {n.lstrip("-") for n in _PROBLEM_NUMBER.findall(problem.replace(",", ""))}
    checks = 0
    for i, step in enumerate(steps[:-1]):
        for value in _stated_results(step, benchmark):
            if value.replace(",", "").lstrip("-") in in_problem:
                continue
            for name, target in targets:
                checks += 1
                if checks > MAX_ANSWER_CHECKS:
                    return None
                if is_equivalent(target, value, benchmark):
                    what = f"the final answer is {final}" if final else "there is no final answer"
                    return RuleVerdict("abandoned", i + 1,
                                       f"answer reached, then abandoned: step {i + 1} derives {value} ({name}), but {what}")
    return None
