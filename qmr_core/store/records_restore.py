"""Records of the restore stages: recovery sets, their examples and trained adapters (`qmr recover`), and
layer sensitivity analyses (`qmr sensitivity`). Fields are named as the columns (migrations 004, 005)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RecoverySet:
    """A `recovery_sets` row: a curated set built from one comparison."""

    set_id: str
    base_run_id: str
    quant_run_id: str
    judge: str | None
    filters_json: str
    seed: int
    n_targeted: int
    n_control: int
    holdout_json: str
    export_dir: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class RecoveryExample:
    """A `recovery_examples` row: a prompt cut at one step with the fp (chosen) and quantized (rejected) sides.
    `*_complete` is None on sets built before migration 005 (treated as ended)."""

    set_id: str
    kind: str
    problem_id: str
    sample_idx: int
    cut_step: int
    cut_char: int
    cut_in: str
    error_step: int | None
    error_type: str | None
    prompt: str
    chosen: str
    rejected: str
    chosen_complete: bool | None
    rejected_complete: bool | None


@dataclass(frozen=True)
class Recovery:
    """A `recoveries` row: a trained adapter, and its evaluation once `qmr recover eval` ran."""

    adapter_id: str
    set_id: str
    kind: str
    objective: str
    quant_model_id: str
    model_id: str
    parent_run_id: str
    hparams_json: str
    n_train: int
    steps: int | None
    train_seconds: float | None
    final_loss: float | None
    losses_json: str | None
    adapter_path: str
    eval_run_id: str | None
    summary_json: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class CorrectTrace:
    """A correct sample that sensitivity scores."""

    problem_id: str
    prompt: str  # exactly what the model saw
    output: str


@dataclass(frozen=True)
class SensitivityRun:
    """A `sensitivity_runs` row: one analysis of a model under one quantizer."""

    sens_id: str
    model_id: str
    method: str
    bits: int | None
    group_size: int | None
    is_symmetric: bool | None
    quantizer_json: str
    trace_run_id: str | None
    n_traces: int
    n_tokens: int
    baseline_nll: float
    baseline_acc: float | None
    n_acc_problems: int | None
    seconds: float | None
    device: str | None
    qmr_version: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class SensitivityCell:
    """A `sensitivity` row: one configuration (a layer's module kind, a whole layer, or a kind everywhere)."""

    sens_id: str
    layer: int
    module: str
    n_modules: int
    weight_err: float | None
    out_err: float | None
    nll: float
    delta_nll: float
    delta_nll_se: float | None
    accuracy: float | None
    seconds: float | None


@dataclass(frozen=True)
class SensitivitySummary:
    """An analysis as `qmr sensitivity --list` shows it: its quantizer, traces and largest delta NLL."""

    sens_id: str
    model_id: str
    method: str
    bits: int | None
    group_size: int | None
    n_traces: int
    n_tokens: int
    baseline_nll: float
    n_configs: int
    max_delta_nll: float | None
    created_at: dt.datetime
