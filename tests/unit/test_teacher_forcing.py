"""Teacher forcing on the tiny model: batched, padded scoring equals a naive token-by-token loop."""

import pytest
import torch

from qmr_core.diagnose.rules import step_at
from qmr_core.diagnose.teacher_forcing import TFItem, teacher_force
from qmr_core.benchmarks.prompts import get_template
from qmr_core.benchmarks.steps import split_steps

OUTPUTS = [
    "Step 1: There are 4 rows of 6 eggs.\nStep 2: 4 * 6 = 24.\nThe final answer is \\boxed{24}.",
    "\n\nStep 1: 12 * 7 = 84.",
    "Step 1: 2 + 3 = 5.\nStep 2: So the answer is \\boxed{5}.\nStep 3: Done.",
]



def make_items(engine) -> list[TFItem]:
    template = get_template("steps")
    items = []
    for k, out in enumerate(OUTPUTS):
        prompt = engine.render(template.render(f"Problem number {k}: what is {k} + {k * 7}?"))
        spans = [(s.start, s.end) for s in split_steps(out).steps]
        items.append(TFItem((f"p{k}", 0), prompt, out, spans, ended_with_eos=k != 1))
    return items


@torch.no_grad()
def naive(engine, item: TFItem):
    """Token by token, one sequence, no padding: (base-token log-probs, argmaxes, offsets)."""
    tok = engine.tokenizer
    prompt_ids = tok(item.prompt, add_special_tokens=not engine.has_chat_template)["input_ids"]
    enc = tok(item.output, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    offsets = [s for s, _ in enc["offset_mapping"]]
    if item.ended_with_eos:
        ids.append(tok.eos_token_id)
        offsets.append(len(item.output))
    lps, args = [], []
    for t in range(len(ids)):
        context = torch.tensor([prompt_ids + ids[:t]])
        logits = engine.model(input_ids=context).logits[0, -1].float().log_softmax(-1)
        lps.append(float(logits[ids[t]]))
        args.append(int(logits.argmax()))
    return ids, lps, args, offsets


def test_batched_scoring_matches_the_naive_loop(tiny_engines):
    base, quant = tiny_engines
    items = make_items(base)
    for batch_size in (1, 3):
        results = teacher_force(quant, items, batch_size=batch_size)
        for item, res in zip(items, results, strict=True):
            ids, lps, args, offsets = naive(quant, item)
            assert res.key == item.key and res.n_tokens == len(ids)
            flips = [t for t in range(len(ids)) if args[t] != ids[t]]
            assert res.n_flips == len(flips)
            assert res.first_flip_token == (flips[0] if flips else None)
            assert res.mean_logprob == pytest.approx(sum(lps) / len(lps), abs=1e-3)
            if flips:
                f = flips[0]
                assert res.first_flip_char == offsets[f]
                assert res.first_flip_step == step_at(offsets[f], item.spans)
                assert res.flip_logprob == pytest.approx(lps[f], abs=1e-3)
                assert res.quant_token == quant.tokenizer.decode([args[f]])
                assert res.window_start == max(0, f - 8)
                assert len(res.margins) == len(res.logprobs) == min(len(ids), f + 9) - res.window_start
                assert all(0.0 <= m <= 1.0 for m in res.margins)
            assert len(res.step_logprobs) == len(item.spans)


def test_control_run_with_the_base_model(tiny_engines):
    base, quant = tiny_engines
    items = make_items(base)
    # the base model against itself, with itself as control: no token can flip
    assert all(r.n_flips == 0 and r.first_flip_token is None for r in teacher_force(base, items, control=base))
    results = teacher_force(quant, items, batch_size=2, control=base)
    for item, res in zip(items, results, strict=True):
        ids, _lp, q_args, _off = naive(quant, item)
        _ids, _lp2, b_args, _off2 = naive(base, item)
        expected = [t for t in range(len(ids)) if b_args[t] == ids[t] and q_args[t] != ids[t]]
        assert res.first_flip_token == (expected[0] if expected else None)
        assert res.n_control_mismatch == sum(b != i for b, i in zip(b_args, ids, strict=True))


def test_deterministic_and_empty_output(tiny_engines):
    base, quant = tiny_engines
    items = make_items(base) + [TFItem(("empty", 0), "<|im_start|>user\nhi<|im_end|>\n", "", [], False)]
    a = teacher_force(quant, items, batch_size=4)
    b = teacher_force(quant, items, batch_size=4)
    assert [r.as_row() for r in a] == [r.as_row() for r in b]
    assert a[-1].n_tokens == 0 and a[-1].first_flip_token is None and a[-1].mean_logprob is None
