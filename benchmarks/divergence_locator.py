"""Measure fp-referenced divergence on a diagnosed store: flip-prediction AUC and locator agreement.

    python benchmarks/divergence_locator.py --db qmr-demo.duckdb

Needs `qmr diagnose` (with a base run) to have filled `divergence`. For each quantized run it prints
the AUC of lost vs both-right problems per divergence measure (DeLong 95% interval), then, on the
lost problems, how often the locator "first step the fp model would not have written" agrees with
the other locators, for the stored rule and for alternative thresholds recomputed from the stored
per-token values:
- sym: the symbolic checker's first flagged step (`symbolic_flags`);
- flip: the teacher-forced first flip (a base step, mapped to the quantized step it is aligned with);
- div: the first divergent step of the step alignment (`pairs`);
- comb: the combined verdict's step (`diagnoses`, judge 'combined').
"same" counts lost samples where both locate the same step, "±1" within one step, out of the
samples both locate; "loc earlier": the locator's step comes first.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qmr_core.diagnose.divergence import first_unlikely  # noqa: E402
from qmr_core.diagnose.flip_prediction import METRICS, flip_prediction  # noqa: E402
from qmr_core.diagnose.rules import step_at  # noqa: E402
from qmr_core.store import Store  # noqa: E402

RULES = {"ln5 (p<20%)": math.log(5), "ln20 (p<5%) [stored]": math.log(20), "ln100 (p<1%)": math.log(100)}


def _spans(store: Store, run_id: str) -> dict[tuple[str, int], list[tuple[int, int]]]:
    out: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for pid, idx, s, e in store.query(
            "SELECT problem_id, sample_idx, span_start, span_end FROM steps WHERE run_id = ? ORDER BY 1, 2, step_idx",
            [run_id]):
        out.setdefault((pid, idx), []).append((s, e))
    return out


def _others(store: Store, base: str, quant: str) -> dict[str, dict[tuple[str, int], int | None]]:
    sym = {(r[0], r[1]): r[2] for r in store.query(
        "SELECT problem_id, sample_idx, min(step_idx) FROM symbolic_flags WHERE run_id = ? GROUP BY 1, 2", [quant])}
    align = {(r[0], r[1], r[2]): r[3] for r in store.query(
        """SELECT problem_id, sample_idx, base_step_idx, quant_step_idx FROM step_alignments
           WHERE base_run_id = ? AND quant_run_id = ? AND base_step_idx IS NOT NULL""", [base, quant])}
    flip = {(r[0], r[1]): align.get((r[0], r[1], r[2])) for r in store.query(
        """SELECT problem_id, sample_idx, first_flip_step FROM flips WHERE base_run_id = ? AND quant_run_id = ?
           AND first_flip_step IS NOT NULL""", [base, quant])}
    div = {(r[0], 0): r[1] for r in store.query(
        "SELECT problem_id, first_divergent_step FROM pairs WHERE base_run_id = ? AND quant_run_id = ?", [base, quant])}
    comb = {(r[0], r[1]): r[2] for r in store.query(
        "SELECT problem_id, sample_idx, first_error_step FROM diagnoses WHERE run_id = ? AND judge = 'combined'", [quant])}
    return {"sym": sym, "flip": flip, "div": div, "comb": comb}


def _agreement(loc: dict[tuple[str, int], int | None], other: dict[tuple[str, int], int | None]) -> str:
    both = [(loc[k], other.get(k)) for k in loc if loc[k] is not None and other.get(k) is not None]
    same = sum(a == b for a, b in both)
    near = sum(abs(a - b) <= 1 for a, b in both)
    earlier = sum(a < b for a, b in both)
    return f"same {same}/{len(both)}, ±1 {near}/{len(both)}, loc earlier {earlier}"


def report(store: Store) -> None:
    for fp in flip_prediction(store):
        print(f"\n== base {fp.base_run_id} -> quant {fp.quant_run_id}: {fp.n_lost} lost, {fp.n_both_right} both right")
        for key, label in METRICS.items():
            a = fp.auc[key]
            print(f"  AUC {label:<36} {a.text() if a else '-'}")
        rows = store.query_dicts(
            """SELECT d.problem_id, d.sample_idx, d.surprisal_tokens, d.fp_rank_tokens, d.seam_tokens, d.q_offsets,
                      d.first_unlikely_step, d.q_n_tokens, d.n_seams
               FROM divergence d JOIN pairs p USING (base_run_id, quant_run_id, problem_id)
               WHERE d.base_run_id = ? AND d.quant_run_id = ? AND p.outcome = 'lost' ORDER BY 1, 2""",
            [fp.base_run_id, fp.quant_run_id])
        spans = _spans(store, fp.quant_run_id)
        others = _others(store, fp.base_run_id, fp.quant_run_id)
        seams = sum(r["n_seams"] for r in rows)
        print(f"  lost samples scored: {len(rows)}; seam tokens {seams} of {sum(r['q_n_tokens'] for r in rows)}")
        for name, nats in RULES.items():
            loc = {}
            for r in rows:
                k = (r["problem_id"], r["sample_idx"])
                t = first_unlikely(r["surprisal_tokens"], r["fp_rank_tokens"], r["seam_tokens"], nats)
                loc[k] = step_at(r["q_offsets"][t], spans.get(k, [])) if t is not None else None
                if name.endswith("[stored]"):
                    assert loc[k] == r["first_unlikely_step"], (k, loc[k], r["first_unlikely_step"])
            fired = sum(v is not None for v in loc.values())
            unlocated = [k for k in loc if others["comb"].get(k) is None]
            extra = sum(loc[k] is not None for k in unlocated)
            print(f"  locator {name}: fires on {fired}/{len(loc)} lost samples, "
                  f"on {extra}/{len(unlocated)} the combined verdict leaves unlocated")
            for other, values in others.items():
                located = sum(values.get(k) is not None for k in loc)
                print(f"    vs {other:<4} (locates {located:>2}): {_agreement(loc, values)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    report(Store(ap.parse_args().db, create=False))


if __name__ == "__main__":
    main()
