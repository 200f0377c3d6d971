"""`sensitivity`: quantize one layer / module kind / (layer, kind) cell at a time and measure the damage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from qmr_core.api.events import ConfigMeasured, Loaded, Loading, Progress, emit
from qmr_core.api.stores import StoreLike, as_store, resolve_run
from qmr_core.errors import QmrError
from qmr_core.sensitivity.grid import SCOPES

if TYPE_CHECKING:
    from torch import nn

    from qmr_core.engines.hf import HFEngine
    from qmr_core.sensitivity.analysis import AnalysisResult
    from qmr_core.sensitivity.quantizers import Quantizer
    from qmr_core.store import Store

METHODS = ("rtn", "gptq")


def check_method(method: str, bits: int | None, group_size: int | None, source: Path | None) -> None:
    """Everything about the quantizer that can be refused before the model is loaded."""
    if method not in METHODS:
        raise QmrError(f"unknown method '{method}'; choose from {', '.join(METHODS)}")
    if bits is not None and not 2 <= bits <= 8:
        raise QmrError(f"--bits must be 2..8, got {bits}")
    if group_size is not None and (group_size == 0 or group_size < -1):
        raise QmrError(f"--group-size must be positive or -1 (per channel), got {group_size}")
    if method == "rtn":
        if source is not None:
            raise QmrError("--from is for weights swapped in from a checkpoint (gptq); rtn quantizes on the fly")
        if bits is None:
            raise QmrError("--bits is required with --method rtn")
    elif source is None:
        raise QmrError(
            "--method gptq swaps in weights from a GPTQ checkpoint: make one with "
            "`qmr quantize --model M --method gptq --bits B --out DIR` and pass --from DIR"
        )


def _check_args(model: str, scopes: Sequence[str], traces: int, max_tokens: int, batch_size: int, accuracy: int,
                acc_max_new_tokens: int) -> None:
    if "@" in model:
        raise QmrError(f"--model takes the full-precision model; the quantizer comes from --method/--bits, not '{model}'")
    if traces < 1 or max_tokens < 1 or batch_size < 1 or accuracy < 0 or acc_max_new_tokens < 1:
        raise QmrError("--traces, --max-tokens, --batch-size and --acc-max-new-tokens must be positive, --accuracy >= 0")
    bad = sorted(set(scopes) - set(SCOPES))
    if bad or not scopes:
        raise QmrError(f"unknown scope '{','.join(bad)}'; choose from {', '.join(SCOPES)}")


def make_quantizer(method: str, bits: int | None, group_size: int | None, asym: bool, source: Path | None,
                   model: nn.Module) -> Quantizer:
    from qmr_core.quant.rtn import RTNSpec, choose_group_size
    from qmr_core.sensitivity.quantizers import RTNQuantizer, checkpoint_quantizer

    if method == "rtn":
        assert bits is not None  # check_method requires --bits with rtn
        return RTNQuantizer(RTNSpec(bits, group_size if group_size is not None else choose_group_size(model), not asym))
    assert source is not None  # check_method requires --from with gptq
    q = checkpoint_quantizer(source, method)
    if bits is not None and q.bits is not None and bits != q.bits:
        raise QmrError(f"--bits {bits} but the checkpoint {source} has {q.bits}-bit weights")
    return q


def _accuracy_subset(store: Store, run_id: str, accuracy: int, acc_max_new_tokens: int) -> tuple[list, object, object]:
    """(problems, template, decoding) of greedy accuracy on the run's first `accuracy` problems."""
    from qmr_core.benchmarks.prompts import get_template
    from qmr_core.benchmarks.registry import Problem
    from qmr_core.engines.base import Decoding
    from qmr_core.store.queries import run_problem_rows
    from qmr_core.store.recovery_eval import run_row

    if not accuracy:
        return [], None, None
    run_info = run_row(store, run_id)
    assert run_info is not None  # resolved or picked from the store's runs
    prompt = run_info.prompt_template
    problems = [Problem.from_row(r.row()) for r in run_problem_rows(store, run_id)[:accuracy]]
    return problems, get_template(prompt), Decoding(max_new_tokens=acc_max_new_tokens)


def sensitivity(db: StoreLike, model: str, method: str = "rtn", bits: int | None = None, *,
                group_size: int | None = None, asym: bool = False, source: Path | str | None = None,
                run: str | None = None, traces: int = 8, max_tokens: int = 256,
                scopes: Sequence[str] = ("layers", "kinds"), accuracy: int = 0, acc_max_new_tokens: int = 256,
                batch_size: int = 8, device: str = "auto", progress: Progress | None = None) -> AnalysisResult:
    """Measure and store every configuration of `scopes` (resumable); read it back with sensitivity.grid.load_grid."""
    from qmr_core.engines import build_engine, model_ref_for
    from qmr_core.generate.evaluate import register_model
    from qmr_core.sensitivity.analysis import analyze
    from qmr_core.sensitivity.traces import pick_trace_run

    src = Path(source) if source is not None else None
    _check_args(model, scopes, traces, max_tokens, batch_size, accuracy, acc_max_new_tokens)
    check_method(method, bits, group_size, src)
    store = as_store(db)
    ref = model_ref_for("hf", model)
    if ref.adapter is not None:
        raise QmrError(f"--model takes the full-precision model, not a recovery adapter ('{ref.name}')")
    run_id = resolve_run(store, run) if run else pick_trace_run(store, ref.model_id)
    emit(progress, Loading(ref.name))
    engine = cast("HFEngine", build_engine("hf", ref, device=device))
    emit(progress, Loaded(ref.name))
    register_model(store, ref)
    quantizer = make_quantizer(method, bits, group_size, asym, src, engine.model)
    acc_problems, template, decoding = _accuracy_subset(store, run_id, accuracy, acc_max_new_tokens)
    return analyze(store, engine, ref.model_id, quantizer, run_id, traces, max_tokens, scopes, acc_problems, template,
                   decoding, batch_size,
                   lambda cfg, row, k, total: emit(progress, ConfigMeasured(cfg.label(), row.delta_nll, k, total)))
