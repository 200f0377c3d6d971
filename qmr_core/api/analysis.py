"""`compare`, `diagnose` and `report`: what the store's runs say, as library calls that return records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qmr_core.api.events import Progress, StageProgress, emit
from qmr_core.api.stores import StoreLike, as_store, resolve_run
from qmr_core.compare import ComparisonSummary, compare_runs, infer_base_run
from qmr_core.errors import QmrError

if TYPE_CHECKING:
    from qmr_core.diagnose.judge import JudgeSettings
    from qmr_core.diagnose.pipeline import DiagnoseReport
    from qmr_core.report.paper import ReportData, ReportTable


def compare(db: StoreLike, quant: str | Sequence[str], base: str | None = None, write: bool = True) -> list[ComparisonSummary]:
    """Pair each quantized run (ids or unique prefixes) with `base`, or with the run of its base model; writes
    `pairs` and `step_alignments` unless `write` is False."""
    store = as_store(db)
    summaries = []
    for q in [quant] if isinstance(quant, str) else quant:
        quant_id = resolve_run(store, q)
        base_id = resolve_run(store, base) if base is not None else infer_base_run(store, quant_id)
        if base_id is None:
            raise QmrError(f"cannot infer the base run of {quant_id}; pass --base")
        summaries.append(compare_runs(store, base_id, quant_id, write=write))
    return summaries


def diagnose(db: StoreLike, run: str, base: str | None = None, judges: Sequence[str] = ("symbolic",), *,
             only_lost: bool = False, teacher_forcing: bool = True, control: bool = True, divergence: bool = True,
             device: str = "auto", batch_size: int = 4, force: bool = False,
             judge_settings: JudgeSettings | None = None, fp_locator: bool = False,
             progress: Progress | None = None) -> DiagnoseReport:
    """Locate and label the first error of every wrong sample of `run` (see `qmr diagnose --help`)."""
    from qmr_core.diagnose.pipeline import diagnose_run

    if batch_size < 1:
        raise QmrError("--batch-size must be >= 1")
    store = as_store(db)
    run_id = resolve_run(store, run)
    base_id = resolve_run(store, base) if base else None
    return diagnose_run(store, run_id, base_id, judges, only_lost=only_lost, teacher_forcing=teacher_forcing,
                        control=control, divergence=divergence, device=device, batch_size=batch_size, force=force,
                        progress=lambda stage, done, total: emit(progress, StageProgress(stage, done, total)),
                        judge_settings=judge_settings, fp_locator=fp_locator)


@dataclass(frozen=True)
class Report:
    data: ReportData
    tables: list[ReportTable]
    figures: list[Path] = field(default_factory=list)
    missing_figures: list[str] = field(default_factory=list)  # figures with no data to draw


def report(db: StoreLike, benchmarks: Sequence[str] = (), runs: Sequence[str] = (), judge: str | None = None,
           plots: Path | str | None = None) -> Report:
    """The paper tables of a store (read-only), and with `plots` a folder of PNG figures."""
    from qmr_core.report.paper import build_report

    data, tables = build_report(as_store(db, write=False), benchmarks, runs, judge)
    if plots is None:
        return Report(data, tables)
    from qmr_core.report.plots import write_plots

    images, skipped = write_plots(data, tables, Path(plots), judge)
    return Report(data, tables, images, list(skipped))
