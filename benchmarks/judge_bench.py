"""Symbolic checker: precision on ProcessBench, false flags on reference solutions, speed.

    python benchmarks/judge_bench.py [--data ../shared/data]

Prints
- ProcessBench (GSM8K split): the checker's earliest-flag precision and its ProcessBench metrics;
- reference solutions of GSM8K (test) and MATH (test): how many claims the checker judges and
  every claim it calls false. Reference solutions are (nearly) all correct, so each flag there is
  either a false positive of the checker or an error in the dataset; the list is printed so a
  reader can tell which;
- steps checked per second.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qmr_core.diagnose.processbench import flag_precision, load_processbench, processbench_metrics, symbolic_predictions
from qmr_core.diagnose.step_checker import check_steps

REPO = Path(__file__).resolve().parents[1]


def audit(rows: list[tuple[str, str, str]], name: str) -> None:
    started = time.perf_counter()
    n_claims, flags = 0, []
    for uid, problem, solution in rows:
        check = check_steps([solution], problem)
        n_claims += check.n_claims
        flags += [(uid, f.claim.text, f.claim.computed) for f in check.flags]
    elapsed = time.perf_counter() - started
    print(f"{name}: {len(rows)} reference solutions, {n_claims} claims judged, {len(flags)} called false "
          f"({len(rows) / elapsed:.0f} solutions/s)")
    for uid, claim, true in flags:
        print(f"    {uid}: {claim}   (true value {true})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()

    items = load_processbench(args.data / "processbench_gsm8k.jsonl")
    started = time.perf_counter()
    preds = symbolic_predictions(items)
    elapsed = time.perf_counter() - started
    labels = [it.label for it in items]
    fp = flag_precision(labels, preds)
    m = processbench_metrics(labels, [-1 if p is None else p for p in preds])
    n_steps = sum(len(it.steps) for it in items)
    print(f"ProcessBench gsm8k: {len(items)} rows ({m.n_error} erroneous, {m.n_correct} correct), {n_steps} steps")
    print(f"  flag precision {fp.precision:.3f} ({fp.right} right, {fp.wrong} wrong, {fp.late} of them after the label)")
    print(f"  acc erroneous {m.acc_error:.3f}  acc correct {m.acc_correct:.3f}  F1 {m.f1:.3f}")
    print(f"  {n_steps / elapsed:.0f} steps/s")

    gsm = []
    for k, line in enumerate((args.data / "gsm8k_test.jsonl").read_text().splitlines()):
        row = json.loads(line)
        gsm.append((f"gsm8k/{k}", row["question"], row["answer"].split("####")[0]))
    audit(gsm, "GSM8K test")
    math_rows = []
    for line in (args.data / "math_test.jsonl").read_text().splitlines():
        row = json.loads(line)
        math_rows.append((row["unique_id"], row["problem"], row["solution"]))
    audit(math_rows, "MATH test")


if __name__ == "__main__":
    main()
