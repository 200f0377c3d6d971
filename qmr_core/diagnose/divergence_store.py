"""Divergence of a (base, quantized) run pair: which traces to score, storing them, reading the locator back.

Scored: every quantized sample of the lost and both-right problems (``pairs``, so `qmr compare`
runs first), each paired with the base sample of the same index (else sample 0). Lost problems carry
the locator; both-right ones are the negatives of the flip-prediction AUC. Rows already stored are
kept unless ``force``; rows are written chunk by chunk, so an interrupted run resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qmr_core.store import Store
from qmr_core.store import divergence as div_store
from qmr_core.store.pairs import problems_with_outcome
from qmr_core.store.records import SampleWithSpans

OUTCOMES = ("lost", "both_right")
WRITE_EVERY = 32
Progress = Callable[[str, int, int], None]


def pending_pairs(store: Store, run_id: str, base_run_id: str, outcomes: Sequence[str] = OUTCOMES,
                  force: bool = False) -> list[tuple[SampleWithSpans, SampleWithSpans]]:
    """(base sample, quantized sample) pairs still to score, in problem order."""
    problems = problems_with_outcome(store, base_run_id, run_id, outcomes)
    if not problems:
        return []
    quant = div_store.samples_with_spans(store, run_id, problems)
    base = div_store.samples_with_spans(store, base_run_id, problems)
    done = set() if force else set(div_store.first_unlikely_steps(store, base_run_id, run_id))
    out = []
    for key, q in sorted(quant.items()):
        b = base.get(key) or base.get((key[0], 0))
        if key in done or b is None or not b.prompt or not q.prompt:
            continue
        out.append((b, q))
    return out


def score_divergence(store: Store, run_id: str, base_run_id: str, *, device: str = "auto", batch_size: int = 4,
                     force: bool = False, progress: Progress | None = None, outcomes: Sequence[str] = OUTCOMES) -> int:
    """Score and store the pending pairs; returns how many rows were written."""
    todo = pending_pairs(store, run_id, base_run_id, outcomes, force)
    if not todo:
        return 0
    from qmr_core.diagnose.divergence import DivItem, divergence  # torch: loaded only when there is work
    from qmr_core.store.queries import run_model_spec
    from qmr_core.diagnose.teacher_forcing import TFItem
    from qmr_core.engines.hf import HFEngine
    from qmr_core.models.registry import resolve_model

    def tf(s: SampleWithSpans) -> TFItem:
        assert s.prompt is not None  # pending_pairs keeps only samples with their prompt
        return TFItem((s.problem_id, s.sample_idx), s.prompt, s.output, s.spans, s.finish_reason == "eos")

    items = [DivItem((q.problem_id, q.sample_idx, b.sample_idx), tf(b), tf(q)) for b, q in todo]
    models = div_store.run_models(store, [run_id, base_run_id])
    fp = HFEngine(resolve_model(run_model_spec(store, base_run_id)), device=device)
    quant = HFEngine(resolve_model(run_model_spec(store, run_id)), device=device)
    described = fp.describe()
    total, done = 2 * len(items), 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("divergence", done, total)

    written = 0
    for start in range(0, len(items), WRITE_EVERY):
        rows = []
        for r in divergence(fp, quant, items[start : start + WRITE_EVERY], batch_size=batch_size, on_batch=tick):
            row = {"base_run_id": base_run_id, "quant_run_id": run_id, "problem_id": r.key[0], "sample_idx": r.key[1],
                   "base_sample_idx": r.key[2], "fp_model_id": models.get(base_run_id),
                   "quant_model_id": models.get(run_id), "device": described["device"], "dtype": described["dtype"]}
            row.update(r.as_row())
            rows.append(row)
        div_store.write_divergence(store, rows)
        written += len(rows)
    return written


def fp_locator(store: Store, base_run_id: str, quant_run_id: str) -> dict[tuple[str, int], int | None]:
    """The first step the full-precision model would not have written, per scored quantized sample.

    ``None``: scored, and the full-precision model finds every token of the trace likely enough.
    Samples never scored are absent. Meant as one locator among several (see divergence.py).
    """
    return div_store.first_unlikely_steps(store, base_run_id, quant_run_id)
