"""A small store for blind-review tests: tui_store's hand-written problems plus `combined` verdicts.

Failing quantized samples with a `combined` diagnosis (step 0-based):
  w3 sample/algebra/1       step 2 Execution   (hf:judge step 2 Execution, symbolic step 2 Execution)
  w3 sample/geometry/2      step 1 Conceptual  (hf:judge step 1 Conceptual, symbolic step 2 Execution)
  w3 sample/counting/5      step 2 Execution   (hf:judge step 2 Execution)
  w4 sample/number_theory/3 step 0 Execution   (hf:judge step 0 Execution)
  w4 sample/counting/5      unlocated          (no other judge)
"""

from __future__ import annotations

from pathlib import Path

from qmr_core.store import Store, upsert_rows
from tests.helpers.tui_store import Q3, Q4, _diag, build_small_store

COMBINED = {
    (Q3, "sample/algebra/1"): (2, "Execution"),
    (Q3, "sample/geometry/2"): (1, "Conceptual"),
    (Q3, "sample/counting/5"): (2, "Execution"),
    (Q4, "sample/number_theory/3"): (0, "Execution"),
    (Q4, "sample/counting/5"): (None, None),
}


def build_review_store(path: Path) -> Path:
    build_small_store(path, filler=0)
    rows = [
        _diag(run, pid, "combined", step, etype, None, "combined verdict" if step is not None else "no judge located the error")
        for (run, pid), (step, etype) in COMBINED.items()
    ]
    rows.append(_diag(Q4, "sample/number_theory/3", "hf:judge", 0, "Execution", "numerical computation", "11 * 17 + 9 = 196."))
    with Store(path).transaction() as con:
        upsert_rows(con, "diagnoses", rows)
    return path


# Two annotators' blind labels of the review store's failures: (first faulty step, error type) per sample.
# alice's blind labels (0-based steps) and what each judge gets right, worked out by hand:
#                        combined        hf:judge        symbolic
# w3 algebra/1   2 Exe   step+type       step+type       step+type
# w3 geometry/2  1 Con   step+type       step+type       neither (2 Exe)
# w3 counting/5  2 Met   step            step            -
# w4 numth/3     1 Exe   type            type            -
# w4 counting/5  none    step+type       -               -
ALICE = {
    (Q3, "sample/algebra/1"): (2, "Execution"),
    (Q3, "sample/geometry/2"): (1, "Conceptual"),
    (Q3, "sample/counting/5"): (2, "Method"),
    (Q4, "sample/number_theory/3"): (1, "Execution"),
    (Q4, "sample/counting/5"): (None, None),
}
BOB = {
    (Q3, "sample/algebra/1"): (2, "Execution"),
    (Q3, "sample/geometry/2"): (2, "Execution"),
    (Q4, "sample/counting/5"): (None, None),
}
