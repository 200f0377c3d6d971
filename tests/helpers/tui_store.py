"""Deterministic stores for the TUI tests and benchmarks/tui_bench.py, written straight through Store.

`build_small_store` holds a few hand-written traces (a lost problem with an Execution slip judged by
two judges, a gained one, both wrong, both right) plus generated filler; `build_large_store` writes
N problems x (base + 2 quantized runs) of generated traces in bulk. No timestamps are shown by the
app, and every id and text is fixed, so SVG snapshots of these stores are stable.
"""

from __future__ import annotations

import random
from pathlib import Path

from qmr_core.store import Store, upsert_rows

BASE = "run-fp-0001"
Q4 = "run-w4-0002"
Q3 = "run-w3-0003"
RUN_IDS = (BASE, Q4, Q3)

_MODELS = [
    dict(model_id="tiny-fp", name="tiny-fp", source="fixture", base_model_id=None, method="none", bits=None, group_size=None),
    dict(model_id="tiny-fp@rtn-w4g64", name="tiny-fp@rtn-w4g64", source="fixture", base_model_id="tiny-fp", method="rtn", bits=4, group_size=64),
    dict(model_id="tiny-fp@rtn-w3g64", name="tiny-fp@rtn-w3g64", source="fixture", base_model_id="tiny-fp", method="rtn", bits=3, group_size=64),
]

HANDWRITTEN = [
    # (problem_id, subject, level, problem, gold, base steps, base answer, quant steps (w3), quant answer)
    (
        "sample/algebra/1", "Algebra", 2,
        "A shop sells pencils at 12 for $7. How much do 84 pencils cost, in dollars?", "49",
        ["There are 84 / 12 = 7 groups of 12 pencils.", "Each group costs $7.", "So the total is 7 * 7 = 49 dollars.", "The answer is \\boxed{49}."],
        "49",
        ["There are 84 / 12 = 7 groups of 12 pencils.", "Each group costs $7.", "So the total is 7 * 7 = 42 dollars.", "The answer is \\boxed{42}."],
        "42",
    ),
    (
        "sample/geometry/2", "Geometry", 3,
        "A rectangle has perimeter 30 and width 5. What is its area?", "50",
        ["The perimeter is 2(l + w) = 30, so l + w = 15.", "With w = 5 the length is l = 10.", "The area is l * w = 10 * 5 = 50.", "The answer is \\boxed{50}."],
        "50",
        ["The perimeter is 2(l + w) = 30.", "A rectangle has four sides so each side is 30 / 4 = 7.5.", "The area is 7.5 * 5 = 37.5.", "The answer is \\boxed{37.5}."],
        "37.5",
    ),
    (
        "sample/number_theory/3", "Number Theory", 4,
        "What is the remainder when 194 is divided by 11?", "7",
        ["194 = 11 * 17 + 9.", "So the remainder is 9.", "The answer is \\boxed{9}."],
        "9",
        ["11 * 17 = 187.", "194 - 187 = 7.", "The answer is \\boxed{7}."],
        "7",
    ),
    (
        "sample/prealgebra/4", "Prealgebra", 1,
        "What is 15 + 27?", "42",
        ["15 + 27 = 42.", "The answer is \\boxed{42}."],
        "42",
        ["15 + 27 = 42.", "The answer is \\boxed{42}."],
        "42",
    ),
    (
        "sample/counting/5", "Counting & Probability", 5,
        "How many ways can 3 books be arranged on a shelf?", "6",
        ["There are 3 choices for the first book.", "So there are 3 + 2 + 1 = 6 ways.", "Wait, 3 + 2 + 1 = 5.", "The answer is \\boxed{5}."],
        "5",
        ["There are 3 choices for the first book.", "Then 2 for the second and 1 for the third.", "3 * 2 = 5 ways.", "The answer is \\boxed{5}."],
        "5",
    ),
]


def _problem_row(pid: str, subject: str | None, level: int | None, text: str, gold: str) -> dict:
    return dict(
        problem_id=pid, benchmark="sample", unique_id=pid.split("/", 1)[1], subject=subject, level=level,
        kind="math", problem=text, solution=None, answer=gold, content_hash=f"h-{pid}",
    )


def _run_row(run_id: str, model_id: str) -> dict:
    return dict(
        run_id=run_id, model_id=model_id, benchmark="sample", prompt_template="steps", prompt_text="p",
        decoding_json='{"max_new_tokens": 96}', engine="hf", status="done",
    )


def _sample_rows(run_id: str, pid: str, steps: list[str], answer: str | None, correct: bool) -> tuple[dict, list[dict]]:
    output = "\n".join(f"Step {k + 1}: {s}" for k, s in enumerate(steps))
    sample = dict(
        run_id=run_id, problem_id=pid, sample_idx=0, prompt="p", output=output, extracted_answer=answer,
        extract_method="boxed", correct=correct, grade_rule="exact", grader_version="test", step_format="tagged",
        n_steps=len(steps), n_prompt_tokens=10, n_tokens=20 * len(steps), latency_ms=100.0, finish_reason="eos",
    )
    rows, pos = [], 0
    for k, s in enumerate(steps):
        start = output.index(s, pos)
        rows.append(dict(run_id=run_id, problem_id=pid, sample_idx=0, step_idx=k, text=s, span_start=start, span_end=start + len(s)))
        pos = start + len(s)
    return sample, rows


def _diag(run_id: str, pid: str, judge: str, step: int | None, etype: str, cap: str, why: str) -> dict:
    return dict(run_id=run_id, problem_id=pid, sample_idx=0, judge=judge, first_error_step=step, error_type=etype, capability=cap, rationale=why)


def build_small_store(path: Path, filler: int = 20) -> Path:
    """Three runs (fp, w4, w3) on 5 hand-written + `filler` generated problems, with diagnoses."""
    store = Store(path)
    problems, samples, steps, diagnoses = [], [], [], []
    for pid, subject, level, text, gold, bsteps, bans, qsteps, qans in HANDWRITTEN:
        problems.append(_problem_row(pid, subject, level, text, gold))
        for run_id, st, ans in ((BASE, bsteps, bans), (Q4, bsteps, bans), (Q3, qsteps, qans)):
            s, rows = _sample_rows(run_id, pid, st, ans, ans == gold)
            samples.append(s)
            steps.extend(rows)
    diagnoses += [
        _diag(Q3, "sample/algebra/1", "symbolic", 2, "Execution", "numerical computation", "7 * 7 = 42 is false: 7 * 7 = 49"),
        _diag(Q3, "sample/algebra/1", "hf:judge", 2, "Execution", "numerical computation", "Multiplies 7 by 7 and writes 42."),
        _diag(Q3, "sample/geometry/2", "hf:judge", 1, "Conceptual", "problem understanding", "Treats the rectangle as a square."),
        _diag(Q3, "sample/geometry/2", "symbolic", 2, "Execution", "numerical computation", "7.5 * 5 = 37.5 holds; flagged step is a guess"),
        _diag(BASE, "sample/number_theory/3", "hf:judge", 0, "Execution", "numerical computation", "11 * 17 + 9 = 196, not 194."),
        _diag(Q3, "sample/counting/5", "hf:judge", 2, "Execution", "numerical computation", "3 * 2 is 6, not 5."),
        _diag(BASE, "sample/counting/5", "hf:judge", 1, "Method", "reasoning planning", "Adds choices instead of multiplying."),
    ]
    rng = random.Random(7)
    subjects = ["Algebra", "Geometry", "Prealgebra", "Number Theory"]
    for i in range(filler):
        pid = f"sample/filler/{i:03d}"
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        gold = str(a + b)
        problems.append(_problem_row(pid, subjects[i % 4], 1 + i % 5, f"What is {a} + {b}?", gold))
        base_ok = i % 3 != 0
        quant_ok = i % 4 == 1
        for run_id, ok in ((BASE, base_ok), (Q4, base_ok or i % 5 == 0), (Q3, quant_ok)):
            ans = gold if ok else str(a + b + 1)
            s, rows = _sample_rows(run_id, pid, [f"{a} + {b} = {ans}.", f"The answer is \\boxed{{{ans}}}."], ans, ok)
            samples.append(s)
            steps.extend(rows)
            if not ok:
                diagnoses.append(_diag(run_id, pid, "hf:judge", 0, "Execution", "numerical computation", f"{a} + {b} is {gold}."))
    with store.transaction() as con:
        upsert_rows(con, "models", _MODELS)
        upsert_rows(con, "problems", problems)
        upsert_rows(con, "runs", [_run_row(BASE, "tiny-fp"), _run_row(Q4, "tiny-fp@rtn-w4g64"), _run_row(Q3, "tiny-fp@rtn-w3g64")])
        upsert_rows(con, "samples", samples)
        upsert_rows(con, "steps", steps)
        upsert_rows(con, "diagnoses", diagnoses)
    return path


WORDS = "the sum of and so we get then multiply divide by each term gives total value half twice".split()


def build_large_store(path: Path, n_problems: int, seed: int = 0, batch: int = 5000) -> Path:
    """n_problems x 3 runs of generated 4-6 step traces; about a third lost or wrong, with diagnoses."""
    store = Store(path)
    rng = random.Random(seed)
    with store.transaction() as con:
        upsert_rows(con, "models", _MODELS)
        upsert_rows(con, "runs", [_run_row(BASE, "tiny-fp"), _run_row(Q4, "tiny-fp@rtn-w4g64"), _run_row(Q3, "tiny-fp@rtn-w3g64")])
    subjects = ["Algebra", "Geometry", "Prealgebra", "Number Theory", "Precalculus", "Intermediate Algebra", "Counting & Probability"]
    types = ["Execution", "Method", "Conceptual", "Reasoning", "Degenerate"]
    for start in range(0, n_problems, batch):
        problems, samples, steps, diagnoses = [], [], [], []
        for i in range(start, min(start + batch, n_problems)):
            pid = f"large/{i:06d}"
            a, b = rng.randint(2, 999), rng.randint(2, 999)
            gold = str(a * b)
            problems.append(_problem_row(pid, subjects[i % 7], 1 + i % 5, f"Compute {a} times {b}, then explain.", gold))
            base_steps = [" ".join(rng.choices(WORDS, k=12)) + f" {a} * {b}" for _ in range(rng.randint(4, 6))]
            base_ok = rng.random() < 0.7
            for run_id, p_ok in ((BASE, None), (Q4, 0.65), (Q3, 0.45)):
                ok = base_ok if p_ok is None else (rng.random() < p_ok)
                st = list(base_steps)
                if run_id != BASE:
                    k = rng.randrange(len(st))
                    st[k] = st[k] + " = " + str(a * b + (0 if ok else 1))
                ans = gold if ok else str(a * b + 1)
                s, rows = _sample_rows(run_id, pid, st, ans, ok)
                samples.append(s)
                steps.extend(rows)
                if not ok:
                    diagnoses.append(_diag(run_id, pid, "hf:judge", rng.randrange(len(st)), rng.choice(types), "numerical computation", "generated"))
        with store.transaction() as con:
            upsert_rows(con, "problems", problems)
            upsert_rows(con, "samples", samples)
            upsert_rows(con, "steps", steps)
            upsert_rows(con, "diagnoses", diagnoses)
    return path
