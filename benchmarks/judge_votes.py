"""An LLM judge on a store's failing samples: parse rate, what the combined verdict located, speed.

    python benchmarks/judge_votes.py --db qmr-demo.duckdb [--judge hf:smollm2-135m] [--run RUN ...]
        [--only-lost] [--samples K] [--no-constrained]

Works on a copy of the store (the original is untouched). For each quantized run (every run with a
base model, or --run), runs `diagnose_run` with the symbolic checker and the judge, then prints
- votes parsed / total (target: >= 99% constrained) and the unparsed reasons;
- combined verdicts that locate a step vs. that say nothing located the error;
- which locator placed the step (llm | symbolic | degenerate:<subtype>) and the Degenerate subtypes;
- seconds per vote (wall time on this machine: compare only numbers from one run).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from qmr_core.diagnose.judge import JudgeSettings
from qmr_core.diagnose.pipeline import diagnose_run
from qmr_core.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--judge", default="hf:smollm2-135m")
    ap.add_argument("--run", action="append")
    ap.add_argument("--only-lost", action="store_true")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--no-constrained", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qmr-judge-votes-")) / args.db.name
    shutil.copy(args.db, work)
    store = Store(work)
    runs = args.run or [r[0] for r in store.query(
        "SELECT r.run_id FROM runs r JOIN models m USING (model_id) WHERE m.base_model_id IS NOT NULL ORDER BY 1")]
    settings = JudgeSettings(samples=args.samples, constrained=not args.no_constrained)
    for run_id in runs:
        started = time.perf_counter()
        rep = diagnose_run(store, run_id, judges=["symbolic", args.judge], only_lost=args.only_lost,
                           teacher_forcing=False, device=args.device, judge_settings=settings, force=True)
        elapsed = time.perf_counter() - started
        rows = store.query_dicts(
            "SELECT error_type, subtype, located_by, first_error_step FROM diagnoses WHERE run_id = ? AND judge = 'combined'",
            [run_id])
        reasons = Counter(r[0] for r in store.query(
            "SELECT parse_error FROM judge_votes WHERE run_id = ? AND judge = ? AND NOT parsed", [run_id, args.judge]))
        parsed = rep.n_votes - rep.n_unparsed
        print(f"run {run_id}: {rep.n_failing} failing samples ({'lost only' if args.only_lost else 'all wrong'})")
        print(f"  votes parsed {parsed}/{rep.n_votes} ({parsed / rep.n_votes:.1%})" if rep.n_votes else "  no votes",
              dict(reasons) if reasons else "")
        print(f"  combined: {rep.n_located} locate a step, {rep.n_unlocated} say nothing located the error")
        print("  located by:", dict(Counter(r["located_by"] or "none" for r in rows)))
        print("  types:", dict(Counter(r["error_type"] or "unlocated" for r in rows)),
              " degenerate subtypes:", dict(Counter(r["subtype"] for r in rows if r["subtype"])))
        print(f"  {elapsed:.0f} s, {elapsed / max(rep.n_votes, 1):.1f} s per vote (notes: {rep.notes or 'none'})")


if __name__ == "__main__":
    main()
