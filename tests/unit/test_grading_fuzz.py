"""Property-based fuzz of the grader on pathological model outputs (issue 17).

Whitespace and brace runs, repetition loops up to the output cap, deep nesting and mixed
scripts are graded from several threads at once; every call must return a verdict within a
generous wall-time bound (the check deadline plus slack for a loaded 2-core machine).
Before grader 1.1, a 64k whitespace run in a box took ~105 s in-process.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmr_core.grading import Verdict, configure, grade, warm_up
from qmr_core.grading.extract import MAX_OUTPUT_CHARS

DEADLINE_S = 1.0
BOUND_S = DEADLINE_S + 9.0  # generous: GIL contention between the threads on a busy 2-core box
THREADS = 4

UNITS = [
    " ", "\n", "\t", "\u00a0", "{", "}", "\\{", "(", ")", "[", "$", "!", ".", ",", ";", "**", "#",
    "\\boxed{", "\\boxed ", "\\fbox{", "\\frac{", "\\sqrt{", "\\left(", "\\right)", "^{", "_{", "\\\\",
    "Step 1: 3x = 24.\n", "Step 8: ", "1. ", "(3) ", "2) ", "The answer is ", "Final Answer: ",
    "final answer", "#### ", "I hope it is correct", "1,000", "3.14", "5!", "x = ", "\\pi", "\\%",
    "^\\circ", "\\text{ cm}", "\\pm", "\\cup", "=", "<", "-", "9", "0.333",
    "漢字", "مرحبا", "١٢٣", "𝟙𝟚𝟛", "\u0301", "\u200b", "🙂", "Ω", "∞", "√", "½", "−",
]
unit = st.sampled_from(UNITS) | st.text(min_size=1, max_size=8)
run = st.tuples(unit, st.integers(1, 50_000)).map(lambda t: t[0] * t[1])
nested = st.tuples(st.sampled_from(["{", "(", "\\frac{", "\\sqrt{", "\\boxed{", "[", "\\left("]),
                   st.integers(1, 5_000), st.booleans()).map(
    lambda t: t[0] * t[1] + "1" + ("}" if "{" in t[0] else ")" if "(" in t[0] else "]") * (t[1] if t[2] else 0)
)
segment = unit | run | nested
loop = st.tuples(st.lists(unit, min_size=1, max_size=6).map("".join), st.integers(1, MAX_OUTPUT_CHARS)).map(
    lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
)
output = st.one_of(
    st.lists(segment, min_size=1, max_size=8).map("".join),
    loop,
    st.tuples(st.sampled_from(["\\boxed{", "The answer is $", "Final Answer: ", ""]), st.lists(segment, max_size=5))
    .map(lambda t: t[0] + "".join(t[1]) + ("}" if t[0].endswith("{") else "")),
)


@pytest.fixture(scope="module", autouse=True)
def short_deadline():
    configure(timeout_s=DEADLINE_S)
    warm_up()
    yield
    configure(timeout_s=5.0)


def _timed(gold: str, text: str, bench: str, finish: str | None, problem: str | None) -> tuple[Verdict, float]:
    t0 = time.perf_counter()
    v = grade(gold, text, bench, problem=problem, finish_reason=finish)
    return v, time.perf_counter() - t0


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(texts=st.lists(output, min_size=THREADS, max_size=THREADS))
def test_pathological_outputs_grade_within_bound_from_threads(texts: list[str]) -> None:
    jobs = [("120", texts[0], "math", None, None), ("7", texts[1], "gsm8k", "length", None),
            ("\\frac{1}{3}", texts[2], "math", "eos", "Express your answer as a decimal to the nearest tenth."),
            ("(1, 2)", texts[3], "math", None, "Solve.")]
    with ThreadPoolExecutor(THREADS) as ex:
        results = list(ex.map(lambda j: _timed(*j), jobs))
    for (gold, text, *_), (verdict, took) in zip(jobs, results):
        assert isinstance(verdict, Verdict) and isinstance(verdict.correct, bool)
        assert took < BOUND_S, (len(text), repr(text[:80]), took)
