"""Recovery fine-tuning as library calls: `recover_build`, `recover_train`, `recover_eval`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qmr_core.api.evaluate import evaluate
from qmr_core.api.events import Progress, RecoveryEvalStarted, TrainStep, emit
from qmr_core.api.stores import StoreLike, as_store, resolve_run

if TYPE_CHECKING:
    from qmr_core.recover.build import BuildReport
    from qmr_core.recover.summary import EvalPlan
    from qmr_core.recover.train import TrainParams, TrainResult


def recover_build(db: StoreLike, quant: str, base: str | None = None, judge: str = "combined",
                  error_types: Sequence[str] | None = None, holdout: float = 0.3, seed: int = 0,
                  out: Path | str | None = None) -> BuildReport:
    """Examples cut at the diagnosed first faulty step of the problems run `quant` lost against `base` (inferred
    when omitted), and a control set cut elsewhere; written to the store and as JSONL files."""
    from qmr_core.recover.build import build_set

    store = as_store(db)
    quant_id = resolve_run(store, quant)
    base_id = resolve_run(store, base) if base else None
    return build_set(store, quant_id, base_id, judge, error_types, holdout, seed, Path(out) if out else None)


def recover_train(db: StoreLike, set_id: str, params: TrainParams | None = None, out: Path | str | None = None,
                  device: str = "auto", progress: Progress | None = None) -> TrainResult:
    """A LoRA adapter on the frozen quantized model of the set's quantized run (TrainStep events per logged step)."""
    from qmr_core.recover.train import TrainParams, train_adapter

    params = params or TrainParams()
    params.check()
    return train_adapter(as_store(db), set_id, params, Path(out) if out else None,
                         on_step=lambda step, loss: emit(progress, TrainStep(step, loss)), device=device)


@dataclass(frozen=True)
class RecoveryEval:
    run_id: str  # the recovered model's run
    plan: EvalPlan
    summary: dict  # as stored in recoveries.summary_json


def recover_eval(db: StoreLike, adapter: Path | str, batch_size: int = 8, device: str = "auto",
                 progress: Progress | None = None) -> RecoveryEval:
    """Evaluate an adapter on its parent run's problems (minus the training ones) with the parent's prompt and
    decoding, then compare it with the quantized and full-precision runs."""
    from qmr_core.recover.summary import plan_eval, summarize

    store = as_store(db)
    plan = plan_eval(store, adapter)
    emit(progress, RecoveryEvalStarted(len(plan.problems), plan.parent_run_id, plan.n_excluded))
    run_id = evaluate(store, str(plan.adapter_dir), plan.benchmark, problems=plan.problems, prompt=plan.template,
                      decoding=plan.decoding, batch_size=batch_size, device=device, dtype=plan.dtype,
                      parent_run_id=plan.parent_run_id, progress=progress).run_id
    return RecoveryEval(run_id, plan, summarize(store, plan, run_id))
