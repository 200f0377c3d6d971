"""Teacher-forcing speed: SmolLM2 scoring full-precision traces under its 3-bit RTN copy.

    python benchmarks/teacher_forcing_speed.py [--db qmr-demo.duckdb] [--n 16] [--batch-size 1 4 8]

Reads the base run of smollm2-135m in a demo store (`qmr demo`) and prints, per batch size,
traces per second and output tokens per second of one forward pass per trace (no generation),
and how many tokens the base model itself would not have produced (re-tokenization seams).
"""

from __future__ import annotations

import argparse
import time

from qmr_core.diagnose.teacher_forcing import TFItem, teacher_force
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
from qmr_core.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="qmr-demo.duckdb")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--batch-size", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--quant", default="smollm2-135m@rtn-w3g64")
    args = ap.parse_args()

    store = Store(args.db, create=False)
    run = store.query("SELECT run_id FROM runs WHERE model_id = 'smollm2-135m' ORDER BY created_at LIMIT 1")
    if not run:
        raise SystemExit(f"no smollm2-135m run in {args.db}: run `qmr demo` first")
    rows = store.query_dicts(
        "SELECT problem_id, sample_idx, prompt, output, finish_reason FROM samples WHERE run_id = ? ORDER BY problem_id LIMIT ?",
        [run[0][0], args.n],
    )
    items = []
    for r in rows:
        spans = store.query(
            "SELECT span_start, span_end FROM steps WHERE run_id = ? AND problem_id = ? AND sample_idx = ? ORDER BY step_idx",
            [run[0][0], r["problem_id"], r["sample_idx"]],
        )
        items.append(TFItem((r["problem_id"], r["sample_idx"]), r["prompt"], r["output"], spans, r["finish_reason"] == "eos"))
    base = HFEngine(resolve_model("smollm2-135m"))
    quant = HFEngine(resolve_model(args.quant))
    print(f"{len(items)} traces from run {run[0][0]}, device {quant.device}, dtype {quant.torch_dtype}")
    control = teacher_force(quant, items, batch_size=4, control=base)
    seams = sum(r.n_control_mismatch or 0 for r in control)
    total = sum(r.n_tokens for r in control)
    print(f"tokens the base model would not produce itself: {seams} of {total}")
    print(f"traces with a flip under {args.quant}: {sum(r.first_flip_token is not None for r in control)} of {len(items)}")
    for bs in args.batch_size:
        started = time.perf_counter()
        res = teacher_force(quant, items, batch_size=bs)
        elapsed = time.perf_counter() - started
        tokens = sum(r.n_tokens for r in res)
        print(f"batch {bs:>2}: {len(items) / elapsed:6.2f} traces/s  {tokens / elapsed:7.0f} output tokens/s  ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
