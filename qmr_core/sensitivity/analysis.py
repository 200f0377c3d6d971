"""The whole analysis: every configuration of the chosen scopes measured and stored, resumable."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from qmr_core import __version__
from qmr_core.errors import QmrError
from qmr_core.sensitivity.grid import ALL, EVERY_LAYER, SCOPES, Row, record_analysis, record_rows, stored_rows
from qmr_core.sensitivity.layers import Config, Sensitivity, configurations, model_layout
from qmr_core.sensitivity.quantizers import Quantizer
from qmr_core.sensitivity.traces import correct_traces, encode_traces
from qmr_core.store import Store
from qmr_core.store.sensitivity import analysis_progress


def accuracy_probe(engine, problems: Sequence, template, decoding, batch_size: int) -> Callable[[], float]:
    """Greedy accuracy of the engine's current weights on `problems` (graded like qmr eval)."""
    from qmr_core.grading import grade

    def run() -> float:
        right = 0
        for k in range(0, len(problems), batch_size):
            chunk = problems[k : k + batch_size]
            gens = engine.generate([template.render(p) for p in chunk], decoding)
            right += sum(
                grade(p.answer, g.text, p.kind, problem=p.problem, finish_reason=g.finish_reason).correct
                for p, g in zip(chunk, gens)
            )
        return right / len(problems) if problems else float("nan")

    return run


# -- storage and the whole analysis ----------------------------------------------------------


def sensitivity_id(model_id: str, quantizer: dict, trace_run_id: str, trace_ids: Sequence[str], max_tokens: int,
                   setup: dict) -> str:
    """Everything that changes the numbers: a resumed analysis must match all of it."""
    payload = json.dumps([model_id, quantizer, trace_run_id, list(trace_ids), max_tokens, setup], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def analysis_row(sens_id: str, model_id: str, quantizer: Quantizer, trace_run_id: str, n_traces: int, n_tokens: int,
                 baseline_nll: float, baseline_acc: float | None, n_acc: int, seconds: float, device: str) -> dict:
    return {
        "sens_id": sens_id, "model_id": model_id, "method": quantizer.method, "bits": quantizer.bits,
        "group_size": quantizer.group_size, "is_symmetric": quantizer.symmetric,
        "quantizer_json": json.dumps(quantizer.describe(), sort_keys=True), "trace_run_id": trace_run_id,
        "n_traces": n_traces, "n_tokens": n_tokens, "baseline_nll": baseline_nll, "baseline_acc": baseline_acc,
        "n_acc_problems": n_acc or None, "seconds": seconds, "device": device, "qmr_version": __version__,
    }


@dataclass
class AnalysisResult:
    sens_id: str
    baseline_nll: float
    baseline_acc: float | None
    rows: list[Row]
    reused: int
    replay: bool
    seconds: float


def analyze(
    store: Store,
    engine,
    model_id: str,
    quantizer: Quantizer,
    trace_run_id: str,
    n_traces: int = 8,
    max_output_tokens: int = 256,
    scopes: Iterable[str] = SCOPES,
    acc_problems: Sequence = (),
    acc_template=None,
    acc_decoding=None,
    batch_size: int = 8,
    on_row: Callable[[Config, Row, int, int], None] | None = None,
) -> AnalysisResult:
    """Measure every configuration of `scopes` not already stored for the same analysis (resumable)."""
    started = time.perf_counter()
    traces = correct_traces(store, trace_run_id, n_traces)
    if not traces:
        raise QmrError(f"run {trace_run_id} has no correct samples with stored prompts to score")
    layout = model_layout(engine.model)
    configs = configurations(layout, scopes)
    setup = {"device": str(engine.device), "dtype": str(engine.torch_dtype), "acc_problems": [p.problem_id for p in acc_problems],
             "acc_template": getattr(acc_template, "name", None),
             "acc_decoding": acc_decoding.as_dict() if acc_decoding is not None else None}
    sens_id = sensitivity_id(model_id, quantizer.describe(), trace_run_id, [t.problem_id for t in traces],
                             max_output_tokens, setup)
    done = stored_rows(store, sens_id)
    encoded = encode_traces(engine.tokenizer, traces, max_output_tokens, not engine.has_chat_template)
    meter = Sensitivity(engine.model, layout, encoded, quantizer, device=engine.device)
    probe = accuracy_probe(engine, acc_problems, acc_template, acc_decoding, batch_size) if acc_problems else None
    known = analysis_progress(store, sens_id)
    baseline_acc = known.baseline_acc if known and known.baseline_acc is not None else (probe() if probe else None)
    info = analysis_row(sens_id, model_id, quantizer, trace_run_id, len(traces), encoded.n_tokens, meter.baseline_nll,
                        baseline_acc, len(acc_problems), 0.0, str(engine.device))
    if known:
        info["seconds"] = known.seconds or 0.0
    record_analysis(store, info)
    rows = [done[(c.layer, c.module)] for c in configs if (c.layer, c.module) in done]
    todo = [c for c in configs if (c.layer, c.module) not in done]
    pending: list[Row] = []
    for k, cfg in enumerate(todo, 1):
        coarse = cfg.module == ALL or cfg.layer == EVERY_LAYER  # accuracy is measured for these, not for cells
        row = meter.measure(cfg, probe if coarse else None)
        rows.append(row)
        pending.append(row)
        if on_row:
            on_row(cfg, row, k, len(todo))
        if len(pending) >= 16:
            record_rows(store, sens_id, pending)
            pending = []
    record_rows(store, sens_id, pending)
    elapsed = time.perf_counter() - started
    info["seconds"] = (info["seconds"] or 0.0) + elapsed
    record_analysis(store, info)
    return AnalysisResult(sens_id, meter.baseline_nll, baseline_acc, rows, len(configs) - len(todo), meter.replay, elapsed)
