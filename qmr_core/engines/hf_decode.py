"""Greedy batched decoding that skips the work `model.generate` wastes on qmr's workloads.

Measured on the demo (SmolLM2-135M, fp32, 2-core CPU, 16 prompts a batch, 96 new tokens): the prompts
are 223-283 tokens long and share their first 212 (the instruction and the worked demonstration), so
`generate` spends most of its time prefilling the same prefix 16 times, and every row that stopped at
<eos> keeps being decoded until the slowest row hits the token limit. This loop

1. prefills the batch's longest common token prefix once and repeats its KV cache across the rows,
2. prefills each row's remaining tokens, left-padded within that suffix block (pads masked out and
   skipped by the position ids, exactly as `generate` numbers left-padded rows), and
3. decodes greedily, dropping every finished row from the batch and its KV cache.

Each row still sees the same tokens at the same positions under the same causal mask, so the logits are
the ones `generate` computes up to floating-point summation order (the pads sit in a different place,
and the batch shrinks). `benchmarks/hf_engine_bench.py` counts identical outputs against `generate`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from transformers import DynamicCache, GenerationConfig

# Below this, prefilling the prefix separately costs an extra forward for little saving.
MIN_SHARED_PREFIX = 16


# GenerationConfig fields that make `generate` change greedy logits; a model whose config sets any of
# them is decoded by `generate` itself.
_LOGIT_CHANGING = (
    "repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "bad_words_ids", "min_length", "min_new_tokens", "forced_bos_token_id", "forced_eos_token_id",
    "suppress_tokens", "begin_suppress_tokens", "sequence_bias", "exponential_decay_length_penalty",
    "renormalize_logits", "watermarking_config", "guidance_scale", "low_memory", "diversity_penalty",
)


def plain_greedy(generation_config: GenerationConfig | None) -> bool:
    """True when greedy `generate` with this config is a bare argmax, which `greedy_decode` reproduces."""
    if generation_config is None:
        return True
    default = GenerationConfig()
    return all(getattr(generation_config, f, None) == getattr(default, f, None) for f in _LOGIT_CHANGING)


@dataclass
class DecodedRow:
    tokens: list[int]  # generated ids, the stopping <eos> included when there is one
    finish_reason: str  # eos | length
    finished_at: float  # perf_counter() when the row's last token was chosen


def shared_prefix_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own to prefill."""
    if len(rows) < 2:
        return 0
    limit = min(len(r) for r in rows) - 1
    n = 0
    first = rows[0]
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n if n >= MIN_SHARED_PREFIX else 0


def _suffix_block(rows: list[list[int]], start: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids of rows[i][start:] and their 0/1 mask."""
    width = max(len(r) - start for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        tail = row[start:]
        ids[i, width - len(tail) :] = torch.tensor(tail, dtype=torch.long)
        mask[i, width - len(tail) :] = 1
    return ids, mask


def _positions(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Position ids of the last `width` columns, counted over unmasked tokens as `generate` does."""
    pos = mask.cumsum(-1) - 1
    pos = pos.masked_fill(mask == 0, 1)
    return pos[:, -width:]


def _forward(model, ids: torch.Tensor, mask: torch.Tensor, cache: DynamicCache, device: str) -> torch.Tensor:
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=_positions(mask, ids.shape[1]).to(device),
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1, :].float()


@torch.no_grad()
def greedy_decode(
    model, rows: list[list[int]], max_new_tokens: int, eos_ids: list[int], pad_id: int, device: str
) -> list[DecodedRow]:
    """Greedy continuation of each prompt (token ids), as `generate(do_sample=False)` would produce it."""
    cache = DynamicCache(config=model.config)
    shared = shared_prefix_length(rows)
    mask = torch.ones((1, shared), dtype=torch.long)
    if shared:
        prefix = torch.tensor([rows[0][:shared]], dtype=torch.long)
        _forward(model, prefix, mask, cache, device)
        cache.batch_repeat_interleave(len(rows))
    ids, suffix_mask = _suffix_block(rows, shared, pad_id)
    mask = torch.cat([mask.expand(len(rows), -1), suffix_mask], dim=1)
    logits = _forward(model, ids, mask, cache, device)

    eos = set(eos_ids)
    out: list[DecodedRow | None] = [None] * len(rows)
    generated: list[list[int]] = [[] for _ in rows]
    active = list(range(len(rows)))  # original row index of each batch row
    while True:
        chosen = logits.argmax(dim=-1).tolist()
        now = time.perf_counter()
        keep = []
        for b, token in enumerate(chosen):
            row = active[b]
            generated[row].append(token)
            if token in eos:
                out[row] = DecodedRow(generated[row], "eos", now)
            elif len(generated[row]) >= max_new_tokens:
                out[row] = DecodedRow(generated[row], "length", now)
            else:
                keep.append(b)
        if not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, dtype=torch.long)
            cache.batch_select_indices(index.to(device))
            mask = mask[index]
            active = [active[b] for b in keep]
            chosen = [chosen[b] for b in keep]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
        logits = _forward(model, torch.tensor(chosen, dtype=torch.long)[:, None], mask, cache, device)
    return [r for r in out if r is not None]
