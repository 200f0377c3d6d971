"""Pairing two runs (runs.py), the one step aligner (align.py), their statistics (stats.py)."""

from qmr_core.compare.align import MATCH_FLOOR, SAME_TEXT, Alignment, StepPair, align_steps, step_signature
from qmr_core.compare.runs import (
    ComparisonSummary, PairRow, compare_runs, infer_base_run, summary_dict, write_pairs,
)
from qmr_core.compare.stats import (
    OUTCOMES, GroupStats, bootstrap_ci, mcnemar_exact, outcome, relative_degradation,
)

__all__ = [
    "MATCH_FLOOR", "OUTCOMES", "SAME_TEXT", "Alignment", "ComparisonSummary", "GroupStats", "PairRow", "StepPair",
    "align_steps", "bootstrap_ci", "compare_runs", "infer_base_run", "mcnemar_exact", "outcome",
    "relative_degradation", "step_signature", "summary_dict", "write_pairs",
]
