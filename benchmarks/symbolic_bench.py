"""Symbolic checker as a first-error locator: ProcessBench metrics per split, and false flags on
reference solutions that are known to be correct.

    python benchmarks/symbolic_bench.py [--data ../shared/data] [--math-n 1000] [--list dev|holdout|math|gsm8k]

Prints, for the first half of ProcessBench GSM8K by id (gsm8k-0 to gsm8k-199, dev: the rules were
tuned on these), the second half (holdout) and the whole file: accuracy on erroneous rows (first flag == label), accuracy on correct rows
(no flag), their harmonic mean F1, and the precision of the first flags, a flag after the label
counting as wrong. The file is ordered erroneous-first: the holdout has only 7 erroneous rows, so
its recall is noise; its 193 correct rows are what it measures.

Then, as a proxy for accuracy on correct samples in the splits not available here (MATH,
OlympiadBench, Omni-MATH): the share of MATH test reference solutions, split into steps the way
qmr splits model output, on which the checker flags anything (each such flag is a false flag,
or an error in the dataset), and the same on GSM8K test reference solutions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's qmr_core, not an installed one

from qmr_core.diagnose.processbench import (  # noqa: E402
    PBItem,
    flag_precision,
    load_processbench,
    processbench_metrics,
)
from qmr_core.diagnose.step_checker import check_steps  # noqa: E402
from qmr_core.benchmarks.steps import split_steps  # noqa: E402


def _id_order(item: PBItem) -> tuple[str, int]:
    """'gsm8k-12' before 'gsm8k-100'."""
    stem, _, num = item.id.rpartition("-")
    return (stem, int(num)) if num.isdigit() else (item.id, -1)


def _split_report(name: str, items: list[PBItem], preds: list[int | None]) -> None:
    labels = [it.label for it in items]
    m = processbench_metrics(labels, [-1 if p is None else p for p in preds])
    fp = flag_precision(labels, preds)
    acc_e = "-" if m.acc_error is None else f"{100 * m.acc_error:5.1f}%"
    acc_c = "-" if m.acc_correct is None else f"{100 * m.acc_correct:5.1f}%"
    f1 = "-" if m.f1 is None else f"{m.f1:.3f}"
    prec = "-" if fp.precision is None else f"{fp.precision:.3f}"
    print(f"  {name:<26} erroneous {m.n_error:>3}  acc {acc_e}   correct {m.n_correct:>3}  acc {acc_c}   F1 {f1}"
          f"   flag precision {prec} ({fp.right} right, {fp.wrong} wrong: {fp.late} late)")


def _reference_rate(name: str, rows: list[tuple[str, str, list[str]]], show: bool) -> None:
    started = time.perf_counter()
    flagged, n_claims, n_steps = [], 0, 0
    for uid, problem, steps in rows:
        check = check_steps(steps, problem)
        n_claims += check.n_claims
        n_steps += len(steps)
        if check.flags:
            flagged.append((uid, check.flags[0]))
    elapsed = time.perf_counter() - started
    print(f"{name}: {len(rows)} reference solutions ({n_steps} steps, {n_claims} claims): flagged "
          f"{len(flagged)} = {100 * len(flagged) / len(rows):.1f}% false-flag rate  ({n_steps / elapsed:.0f} steps/s)")
    if show:
        for uid, f in flagged:
            print(f"    {uid} step {f.step_idx}: {f.claim.describe()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--math-n", type=int, default=1000)
    ap.add_argument("--list", choices=["dev", "holdout", "math", "gsm8k"], action="append", default=[])
    args = ap.parse_args()

    items = sorted(load_processbench(args.data / "processbench_gsm8k.jsonl"), key=_id_order)
    half = len(items) // 2
    started = time.perf_counter()
    checks = [check_steps(it.steps, it.problem) for it in items]
    elapsed = time.perf_counter() - started
    preds = [c.first_error_step for c in checks]
    n_steps = sum(len(it.steps) for it in items)
    print(f"ProcessBench gsm8k, symbolic checker ({n_steps / elapsed:.0f} steps/s); a flag after the label is wrong")
    _split_report(f"first half, {half} (dev)", items[:half], preds[:half])
    _split_report(f"second half, {len(items) - half} (holdout)", items[half:], preds[half:])
    _split_report(f"whole file, {len(items)}", items, preds)
    for split, lo, hi in (("dev", 0, half), ("holdout", half, len(items))):
        if split in args.list:
            for it, c in zip(items[lo:hi], checks[lo:hi], strict=True):
                if c.flags:
                    f = c.flags[0]
                    verdict = "RIGHT" if f.step_idx == it.label else "late" if 0 <= it.label < f.step_idx else "WRONG"
                    print(f"    {it.id} label {it.label} flag {f.step_idx} {verdict}: {f.claim.describe()}")

    math_rows = []
    for line in (args.data / "math_test.jsonl").read_text().splitlines()[: args.math_n]:
        row = json.loads(line)
        steps = [s.text for s in split_steps(row["solution"]).steps]
        math_rows.append((row["unique_id"], row["problem"], steps))
    _reference_rate("MATH test", math_rows, "math" in args.list)
    gsm = []
    for k, line in enumerate((args.data / "gsm8k_test.jsonl").read_text().splitlines()):
        row = json.loads(line)
        steps = [s for s in row["answer"].split("####")[0].splitlines() if s.strip()]
        gsm.append((f"gsm8k/{k}", row["question"], steps))
    _reference_rate("GSM8K test", gsm, "gsm8k" in args.list)


if __name__ == "__main__":
    main()
