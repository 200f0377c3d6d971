"""A hand-built store of toy runs: models, runs, problems and samples with their steps."""

from __future__ import annotations

from qmr_core.benchmarks.steps import split_steps
from qmr_core.store import Store

PROMPT = "[user]\nSolve {problem}"
DECODING = '{"max_new_tokens": 64, "temperature": 0.0}'


def add_run(store: Store, run_id: str, model_id: str, base_model_id: str | None = None, decoding: str = DECODING) -> None:
    store.upsert("models", [{"model_id": model_id, "name": model_id, "source": "/nowhere", "method": "rtn" if base_model_id else "none",
                             "base_model_id": base_model_id}])
    store.upsert("runs", [{"run_id": run_id, "model_id": model_id, "benchmark": "toy", "prompt_template": "steps",
                           "prompt_text": PROMPT, "decoding_json": decoding, "engine": "hf", "status": "done"}])


def add_problem(store: Store, pid: str, subject: str, level: int) -> None:
    store.upsert("problems", [{"problem_id": pid, "benchmark": "toy", "unique_id": pid, "subject": subject, "level": level,
                               "kind": "math", "problem": f"problem {pid}", "answer": "1", "content_hash": pid}])


def add_sample(store: Store, run_id: str, pid: str, correct: bool, output: str, sample_idx: int = 0) -> None:
    split = split_steps(output)
    store.upsert("samples", [{"run_id": run_id, "problem_id": pid, "sample_idx": sample_idx, "prompt": "p", "output": output,
                              "correct": correct, "n_steps": len(split.steps), "finish_reason": "eos",
                              "extracted_answer": "1"}])
    store.upsert("steps", [{"run_id": run_id, "problem_id": pid, "sample_idx": sample_idx, "step_idx": s.idx, "text": s.text,
                            "span_start": s.start, "span_end": s.end} for s in split.steps])


BASE_OK = "Step 1: 4 rows of 6 eggs.\nStep 2: 4 * 6 = 24.\nThe answer is \\boxed{24}."
QUANT_BAD = "Step 1: 4 rows of 6 eggs.\nStep 2: 4 * 6 = 26.\nThe answer is \\boxed{26}."
