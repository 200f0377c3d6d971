"""`qmr recover eval`: what an adapter's evaluation must match, and what it recovered.

The recovered model is evaluated on the parent quantized run's problems, prompt and decoding,
minus the problems it was trained on, as a run whose parent_run_id is that quantized run. The
summary pairs it with the quantized run and with the full-precision run (compare_runs pairs only
the problems both runs have, so both comparisons cover the evaluated problems).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qmr_core.benchmarks.registry import Problem
from qmr_core.compare import compare_runs
from qmr_core.engines.base import Decoding
from qmr_core.errors import QmrError
from qmr_core.benchmarks.prompts import get_template
from qmr_core.recover.build import UNTYPED, error_types_of
from qmr_core.recover.recipe import read_recipe
from qmr_core.store import Store
from qmr_core.store.pairs import problems_with_outcome
from qmr_core.store.queries import run_problem_rows
from qmr_core.store.records import Recovery
from qmr_core.store.recovery_eval import (
    example_problems, label_recovered_model, recovery_of_model, recovery_set, run_row, write_recovery_eval,
)


@dataclass
class EvalPlan:
    adapter_dir: Path
    recovery: Recovery
    parent_run_id: str
    base_run_id: str
    benchmark: str
    template: str
    decoding: Decoding
    dtype: str
    problems: list[Problem]
    n_excluded: int


def recovery_row(store: Store, adapter_dir: Path) -> Recovery:
    from qmr_core.models.registry import resolve_model

    ref = resolve_model(str(adapter_dir))
    row = recovery_of_model(store, ref.model_id)
    if row is None:
        raise QmrError(f"adapter {adapter_dir} ({ref.model_id}) is not recorded in {store.path}; "
                       "evaluate it with the store it was trained from")
    return row


def plan_eval(store: Store, adapter_dir: str | Path) -> EvalPlan:
    adapter_dir = Path(adapter_dir).expanduser().resolve()
    recipe = read_recipe(adapter_dir)
    rec = recovery_row(store, adapter_dir)
    parent = rec.parent_run_id
    run = run_row(store, parent)
    if run is None:
        raise QmrError(f"the adapter's parent run {parent} is not in {store.path}")
    if run.engine != "hf":
        raise QmrError(f"parent run {parent} used the '{run.engine}' engine; a recovered model is evaluated locally (hf)")
    template = get_template(run.prompt_template)
    if template.text() != run.prompt_text:
        raise QmrError(f"prompt template '{run.prompt_template}' changed since run {parent}; cannot repeat its prompt")
    decoding = Decoding(**{k: v for k, v in json.loads(run.decoding_json).items() if v is not None})
    dtype = json.loads(run.engine_json or "{}").get("dtype", "auto")
    base = recovery_set(store, rec.set_id)
    if base is None:
        raise QmrError(f"recovery set {rec.set_id} of this adapter is not in {store.path}")
    trained = set(recipe.get("train_problem_ids") or [])
    trained |= example_problems(store, rec.set_id, rec.kind)
    problems = [Problem.from_row(r.row()) for r in run_problem_rows(store, parent)]
    kept = [p for p in problems if p.problem_id not in trained]
    if not kept:
        raise QmrError(f"every problem of run {parent} was used for training; nothing left to evaluate")
    return EvalPlan(adapter_dir, rec, parent, base.base_run_id, run.benchmark, template.name, decoding, dtype, kept,
                    len(problems) - len(kept))


def summarize(store: Store, plan: EvalPlan, eval_run_id: str) -> dict:
    """Recovered vs quantized vs full precision on the evaluated problems; stored in `recoveries`."""
    rec = plan.recovery
    label_recovered_model(store, rec.model_id)
    vs_quant = compare_runs(store, plan.parent_run_id, eval_run_id)
    vs_full = compare_runs(store, plan.base_run_id, eval_run_id)
    right = {p.problem_id: p.quant_score > 0.5 for p in vs_quant.pairs}
    set_row = recovery_set(store, rec.set_id)
    assert set_row is not None  # plan_eval found it
    lost = sorted(p for p in problems_with_outcome(store, plan.base_run_id, plan.parent_run_id, ["lost"]) if p in right)
    holdout = sorted(p for p in json.loads(set_row.holdout_json) if p in right)
    types = error_types_of(store, plan.parent_run_id, lost, set_row.judge or "combined")
    by_type: dict[str, dict] = {}
    for pid in lost:
        t = by_type.setdefault(types.get(pid) or UNTYPED, {"lost": 0, "lost_recovered": 0, "holdout": 0, "holdout_recovered": 0})
        t["lost"] += 1
        t["lost_recovered"] += right[pid]
        if pid in holdout:
            t["holdout"] += 1
            t["holdout_recovered"] += right[pid]
    summary = {
        "eval_run_id": eval_run_id,
        "n_evaluated": vs_quant.n,
        "n_excluded_trained": plan.n_excluded,
        "n_full_precision_paired": vs_full.n,
        "acc": {"full_precision": vs_full.acc_base, "quantized": vs_quant.acc_base, "recovered": vs_quant.acc_quant},
        "lost": {"n": len(lost), "recovered": sum(right[p] for p in lost)},
        "holdout": {"n": len(holdout), "recovered": sum(right[p] for p in holdout)},
        "by_type": [{"error_type": k, **v} for k, v in sorted(by_type.items(), key=lambda kv: (kv[0] == UNTYPED, kv[0]))],
        "fixed": vs_quant.counts["gained"],  # wrong under quantization, right after recovery
        "newly_broken": [p.problem_id for p in vs_quant.pairs if p.outcome == "lost"],
        "mcnemar_p_vs_quantized": vs_quant.mcnemar_p,
        "rel_drop_vs_full_precision": vs_full.rel_drop,
        "warnings": sorted(set(vs_quant.warnings) | set(vs_full.warnings)),
    }
    write_recovery_eval(store, rec.adapter_id, eval_run_id, json.dumps(summary))
    return summary
