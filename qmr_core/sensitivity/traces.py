"""The traces sensitivity scores: the full-precision model's correct samples, tokenized as generation saw them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.sensitivity import correct_trace_rows, richest_trace_run


@dataclass
class Trace:
    problem_id: str
    prompt: str  # exactly what the model saw
    output: str


def correct_traces(store: Store, run_id: str, limit: int) -> list[Trace]:
    return [Trace(r.problem_id, r.prompt, r.output) for r in correct_trace_rows(store, run_id, limit)]


def pick_trace_run(store: Store, model_id: str) -> str:
    """The full-precision run of the model with the most correct samples that carry their prompt."""
    run_id = richest_trace_run(store, model_id)
    if run_id is None:
        raise QmrError(f"no run of {model_id} with correct samples in the store; run qmr eval --model {model_id} first (or pass --run)")
    return run_id


@dataclass
class Encoded:
    input_ids: torch.Tensor  # [B, T], right padded
    attention_mask: torch.Tensor
    targets: torch.Tensor  # [N] token ids scored
    rows: torch.Tensor  # [N] batch row of each scored position
    cols: torch.Tensor  # [N] position whose logits predict it
    n_tokens: int


def encode_traces(tokenizer, traces: Sequence[Trace], max_output_tokens: int, prompt_special_tokens: bool = False) -> Encoded:
    """Prompt and output tokenized apart, as generation produced them (teacher forcing does the same);
    `prompt_special_tokens` follows the engine (BOS where there is no chat template)."""
    seqs, spans = [], []
    for t in traces:
        prompt = tokenizer(t.prompt, add_special_tokens=prompt_special_tokens)["input_ids"]
        out = tokenizer(t.output, add_special_tokens=False)["input_ids"][:max_output_tokens]
        start = len(prompt) if prompt else 1  # with no prompt the first token has nothing to predict it
        if len(prompt) + len(out) <= start:
            continue
        seqs.append(prompt + out)
        spans.append((start, len(prompt) + len(out)))
    if not seqs:
        raise QmrError("no trace has output tokens to score")
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    rows, cols, targets = [], [], []
    for b, (seq, (start, end)) in enumerate(zip(seqs, spans)):
        ids[b, : len(seq)] = torch.tensor(seq)
        mask[b, : len(seq)] = 1
        for pos in range(start, end):
            rows.append(b)
            cols.append(pos - 1)
            targets.append(seq[pos])
    return Encoded(ids, mask, torch.tensor(targets), torch.tensor(rows), torch.tensor(cols), len(targets))


