"""`quantize` (one checkpoint, recorded in the store) and `sweep` (a method x bits grid, quantized and evaluated)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qmr_core.api.evaluate import EvalResult, evaluate, load_selection
from qmr_core.api.events import (CellNotRun, CellQuantized, CellQuantizing, CellReused, HoldoutMissing, Progress,
                                 QuantizeEnded, QuantizeStage, QuantizeStarted, StageProgress, SweepStarted, emit)
from qmr_core.api.stores import StoreLike, as_store
from qmr_core.benchmarks.registry import Problem, load_benchmark
from qmr_core.engines.base import Decoding
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef, resolve_model
from qmr_core.paths import cache_dir
from qmr_core.quant.library_output import library_output_to
from qmr_core.quant.spec import METHODS, QuantSpec, default_spec
from qmr_core.store import Store

if TYPE_CHECKING:  # quant.api imports torch: loaded only when a call needs it, so the CLI starts fast
    from qmr_core.quant.api import QuantizedModel

DEFAULT_HOLDOUT = ("math500",)


def holdout_problems(benchmarks: Sequence[str], required: bool) -> tuple[list[Problem], list[str]]:
    """Problems to keep out of calibration. Missing default benchmarks are skipped and reported."""
    problems: list[Problem] = []
    missing: list[str] = []
    for name in benchmarks:
        try:
            problems += load_benchmark(name)
        except QmrError:
            if required:
                raise
            missing.append(name)
    return problems, missing


def describe(qm: QuantizedModel) -> str:
    """One line: recipe, backend, time, memory, size and mean layer error."""
    errs = list(qm.layer_errors.values())
    mean_err = f"{sum(errs) / len(errs):.2%}" if errs else "-"
    return (
        f"{qm.spec.tag} via {qm.backend} ({qm.checkpoint_format}): {qm.quant_seconds:.1f} s, "
        f"peak RSS {qm.peak_rss_bytes / 2**30:.2f} GiB, weights {qm.weights_bytes / 2**20:.1f} MiB "
        f"({qm.size_bytes / 2**20:.1f} MiB on disk), mean layer error {mean_err} over {len(errs)} layers"
    )


def quantize_checkpoint(model: str, spec: QuantSpec, out: Path, exclude: list[Problem], force: bool = False,
                        device: str = "auto", progress: Progress | None = None) -> QuantizedModel:
    """quant.api.quantize with the libraries' output sent to a log (moved into the checkpoint when it succeeds);
    a library failure becomes one QmrError naming the log, which holds the traceback."""
    from qmr_core.engines.self_answers import EngineSelfAnswers
    from qmr_core.quant.api import quantize

    out = out.expanduser().resolve()
    log_path = cache_dir() / "logs" / f"quantize-{out.name}-{datetime.now():%Y%m%d-%H%M%S}.log"
    label = f"{spec.tag} ({spec.backend})"

    def on_stage(text: str) -> None:
        emit(progress, QuantizeStage(label, text))
        with log_path.open("a", encoding="utf-8") as fh:  # the stages frame the libraries' output
            fh.write(f"[qmr {datetime.now():%H:%M:%S}] {text}\n")

    try:
        with library_output_to(log_path) as term:
            emit(progress, QuantizeStarted(f"{spec.method} w{spec.bits} ({spec.backend})", log_path, term))
            try:
                qm = quantize(model, spec, out, exclude=exclude, force=force, device=device, on_stage=on_stage,
                              on_layer=lambda done, total: emit(progress, StageProgress("layers", done, total)),
                              self_answers=EngineSelfAnswers)
            finally:
                emit(progress, QuantizeEnded())
    except (QmrError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a library failed: one line here, the traceback in the log
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise QmrError(f"{spec.backend} failed on {spec.tag}: {type(exc).__name__}: {first} (full log: {log_path})") from exc
    try:
        log_path.replace(qm.out_dir / "quantize.log")
    except OSError:
        pass
    return qm


def quantize(db: StoreLike, model: str, spec: QuantSpec, out: Path | str, *, exclude_benchmarks: Sequence[str] | None = None,
             force: bool = False, device: str = "auto", progress: Progress | None = None) -> QuantizedModel:
    """Quantize `model` with `spec` into the folder `out` and record the recipe in the store.

    Problems of `exclude_benchmarks` (default: math500 where present) never enter math/self calibration.
    """
    from qmr_core.quant.api import register_quantized

    store = as_store(db, create=True)
    exclude, missing = holdout_problems(exclude_benchmarks or DEFAULT_HOLDOUT, required=exclude_benchmarks is not None)
    if spec.calib_kind in ("math", "self") and missing:
        emit(progress, HoldoutMissing(tuple(missing)))
    qm = quantize_checkpoint(model, spec, Path(out), exclude, force=force, device=device, progress=progress)
    register_quantized(store, qm, base_source=resolve_model(model).source)
    return qm


# -- sweep ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepCell:
    method: str
    bits: int
    status: str  # ok | n/a (the backend cannot do it) | failed
    run_id: str | None = None
    accuracy: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SweepResult:
    base_run_id: str
    base_accuracy: float | None
    benchmark: str
    n_problems: int
    backend: str
    cells: list[SweepCell]
    seconds: float

    @property
    def failures(self) -> int:
        return sum(c.status == "failed" for c in self.cells)

    def cell(self, method: str, bits: int) -> SweepCell | None:
        return next((c for c in self.cells if (c.method, c.bits) == (method, bits)), None)


@dataclass(frozen=True)
class SweepSetup:
    """What every cell of a sweep shares."""

    model: str
    base: ModelRef
    benchmark: str
    problems: list[Problem]
    exclude: list[Problem]
    out_root: Path
    prompt: str
    decoding: Decoding
    batch_size: int


def check_methods(methods: Sequence[str]) -> None:
    for m in methods:
        if m not in METHODS:
            raise QmrError(f"unknown method '{m}' (choose from {', '.join(METHODS)})")


def _matching_checkpoint(out_dir: Path, spec: QuantSpec, base_model_id: str) -> QuantizedModel | None:
    from qmr_core.quant.api import load_quantized

    qm = load_quantized(out_dir)
    if qm is None:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise QmrError(f"{out_dir} exists but holds no finished qmr checkpoint; remove it or pick another --out-root")
        return None
    if qm.spec.as_dict() != spec.as_dict() or qm.base_model_id != base_model_id:
        raise QmrError(f"{out_dir} holds a different recipe ({qm.spec.tag} of {qm.base_model_id}); remove it or pick another --out-root")
    return qm


def _evaluate(store: Store, model: str, setup: SweepSetup, progress: Progress | None) -> EvalResult:
    return evaluate(store, model, setup.benchmark, problems=setup.problems, prompt=setup.prompt, decoding=setup.decoding,
                    batch_size=setup.batch_size, progress=progress)


def _sweep_cell(store: Store, setup: SweepSetup, spec: QuantSpec, progress: Progress | None) -> EvalResult:
    """Quantize (unless a checkpoint with this recipe exists) and evaluate one cell."""
    from qmr_core.quant.api import register_quantized

    base = setup.base
    out_dir = setup.out_root / f"{base.name}-{spec.tag}-{spec.backend}"
    qm = _matching_checkpoint(out_dir, spec, base.model_id)
    if qm is None:
        emit(progress, CellQuantizing(spec.tag, spec.backend, out_dir))
        qm = quantize_checkpoint(setup.model, spec, out_dir, setup.exclude, progress=progress)
        emit(progress, CellQuantized(describe(qm)))
    else:
        emit(progress, CellReused(spec.tag))
    register_quantized(store, qm, base_source=base.source)
    return _evaluate(store, str(out_dir), setup, progress)


def sweep(db: StoreLike, model: str, methods: Sequence[str] = ("rtn", "gptq", "awq"), bits: Sequence[int] = (2, 3, 4, 8),
          benchmark: str = "sample", *, limit: int | None = None, out_root: Path | str = "checkpoints",
          backend: str = "llmcompressor", group_size: int = 0, calib: str = "math", n_samples: int = 64,
          seq_len: int = 256, seed: int = 0, max_new_tokens: int = 512, batch_size: int = 8, prompt: str = "steps",
          progress: Progress | None = None) -> SweepResult:
    """Evaluate `model`, then quantize and evaluate every (method, bits) cell. Resumable: existing checkpoints with
    the same recipe are reused and finished runs are not generated again. A failed cell does not stop the others."""
    from qmr_core.quant.api import resolve_group, source_folder

    check_methods(methods)
    started = time.perf_counter()
    store = as_store(db, create=True)
    selection = load_selection(benchmark, limit=limit, progress=progress)
    exclude, _ = holdout_problems([benchmark, *[b for b in DEFAULT_HOLDOUT if b != benchmark]], required=False)
    base = resolve_model(model)
    folder = source_folder(base)
    root = Path(out_root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    setup = SweepSetup(model, base, selection.benchmark, selection.problems, exclude, root, prompt,
                       Decoding(max_new_tokens=max_new_tokens), batch_size)
    emit(progress, SweepStarted(base.name, len(methods), len(bits), selection.benchmark, len(selection.problems)))
    base_run = _evaluate(store, model, setup, progress)
    cells: list[SweepCell] = []
    for method in methods:
        for b in bits:
            try:
                group = -1 if method == "smoothquant" and group_size == 0 else group_size
                spec = default_spec(method, b, group_size=group, backend=backend, calib=calib, n_samples=n_samples,
                                    seq_len=seq_len, seed=seed)
                spec, _ = resolve_group(spec, folder)
            except QmrError as exc:
                cells.append(SweepCell(method, b, "n/a", reason=str(exc)))
                emit(progress, CellNotRun(method, b, "n/a", str(exc)))
                continue
            try:
                res = _sweep_cell(store, setup, spec, progress)
            except QmrError as exc:
                cells.append(SweepCell(method, b, "failed", reason=str(exc)))
                emit(progress, CellNotRun(method, b, "failed", str(exc)))
                continue
            cells.append(SweepCell(method, b, "ok", res.run_id, res.accuracy))
    return SweepResult(base_run.run_id, base_run.accuracy, setup.benchmark, len(setup.problems), backend, cells,
                       time.perf_counter() - started)
