import pytest
import torch
from transformers import GenerationConfig

from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.engines.hf_decode import greedy_decode, plain_greedy, shared_prefix_length
from qmr_core.models.registry import resolve_model

MSGS = [
    [{"role": "user", "content": "What is 12 * 7?"}],
    [{"role": "user", "content": "Solve for x: x + 5 = 12. Write each step on its own line and box the answer."}],
    [{"role": "user", "content": "1+1"}],
]


def test_batched_greedy_equals_one_by_one(tiny_model):
    engine = HFEngine(resolve_model(str(tiny_model)), device="cpu")
    dec = Decoding(max_new_tokens=12)
    batched = engine.generate(MSGS, dec)
    single = [engine.generate([m], dec)[0] for m in MSGS]
    assert [g.text for g in batched] == [g.text for g in single]  # left padding does not change outputs
    for g in batched:
        assert g.finish_reason in ("eos", "length") and 1 <= g.n_tokens <= 12
        assert g.prompt.startswith("<|im_start|>user") and g.latency_ms > 0
        assert g.n_prompt_tokens == len(engine.tokenizer(g.prompt, add_special_tokens=False).input_ids)
    assert any(g.finish_reason == "length" and g.n_tokens == 12 for g in batched)


def test_rtn_is_applied_on_load(tiny_model):
    base = HFEngine(resolve_model(str(tiny_model)), device="cpu")
    quant = HFEngine(resolve_model(f"{tiny_model}@rtn-w2g64"), device="cpu")
    assert set(quant.layer_errors) and all(0 < e < 1.5 for e in quant.layer_errors.values())
    name = "model.layers.0.mlp.down_proj"
    w_base = dict(base.model.named_parameters())[name + ".weight"]
    w_q = dict(quant.model.named_parameters())[name + ".weight"]
    assert not torch.equal(w_base, w_q)
    assert len(torch.unique(w_q[0, :64])) <= 4
    assert quant.describe()["dtype"] == "float32"


def test_sampling_mode_is_seeded(tiny_model):
    engine = HFEngine(resolve_model(str(tiny_model)), device="cpu")
    dec = Decoding(max_new_tokens=8, temperature=1.0, top_p=0.95, n_samples=2, seed=7)
    a = engine.generate(MSGS[:1], dec, sample_idx=0)[0].text
    b = engine.generate(MSGS[:1], dec, sample_idx=0)[0].text
    assert a == b


def _scrambled_engine(tiny_model, fast_greedy: bool = True) -> HFEngine:
    """The tiny Llama with large random weights: its greedy outputs vary token by token (the plain one repeats one token)."""
    engine = HFEngine(resolve_model(str(tiny_model)), device="cpu", fast_greedy=fast_greedy)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in engine.model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return engine


def _steps_prompts(n: int):
    from qmr_core.benchmarks.registry import load_benchmark
    from qmr_core.benchmarks.prompts import STEPS

    return [STEPS.render(p) for p in load_benchmark("sample")[:n]]


def test_shared_prefix_length():
    assert shared_prefix_length([list(range(40)), list(range(30)) + [99] * 5]) == 30
    assert shared_prefix_length([list(range(40)), list(range(20))]) == 19  # each row keeps a token of its own
    assert shared_prefix_length([list(range(40)), [5] + list(range(39))]) == 0
    assert shared_prefix_length([list(range(10)), list(range(10))]) == 0  # too short to pay off
    assert shared_prefix_length([list(range(40))]) == 0


def test_fast_greedy_equals_generate_with_early_stops(tiny_model):
    engine = _scrambled_engine(tiny_model)
    messages = _steps_prompts(10)
    rows = [engine.tokenizer(engine.render(m), add_special_tokens=False).input_ids for m in messages]
    assert shared_prefix_length(rows) >= 100  # the steps prompt's instruction and demonstration
    free = greedy_decode(engine.model, rows, 30, [], engine.tokenizer.pad_token_id, "cpu")
    assert len({tuple(r.tokens) for r in free}) == len(rows)
    # two extra stop tokens, so rows finish at different steps and leave the batch mid-way
    before = _scrambled_engine(tiny_model, fast_greedy=False)  # the engine as it was: generate, stock sdpa
    assert before.model.config._attn_implementation == "sdpa" != engine.model.config._attn_implementation
    engine.eos_ids = before.eos_ids = sorted(set(engine.eos_ids) | {free[0].tokens[7], free[1].tokens[20]})
    dec = Decoding(max_new_tokens=30)
    reference = before.generate(messages, dec)
    fast = engine.generate(messages, dec)
    assert {g.finish_reason for g in reference} == {"eos", "length"}
    assert len({g.n_tokens for g in reference}) >= 3
    for a, b in zip(reference, fast, strict=True):
        assert (a.text, a.n_tokens, a.finish_reason, a.prompt, a.n_prompt_tokens) == (
            b.text, b.n_tokens, b.finish_reason, b.prompt, b.n_prompt_tokens
        )
        assert b.latency_ms > 0
    assert fast[0].latency_ms < max(g.latency_ms for g in fast)  # a row's latency ends at its own last token


def test_fast_greedy_without_shared_prefix(tiny_model):
    engine = _scrambled_engine(tiny_model)
    dec = Decoding(max_new_tokens=10)
    assert [g.text for g in engine.generate(MSGS, dec)] == [g.text for g in engine.generate_padded(MSGS, dec)]
    assert engine.generate(MSGS[:1], dec)[0].text == engine.generate_padded(MSGS[:1], dec)[0].text


def test_config_that_changes_logits_goes_through_generate(tiny_model):
    engine = _scrambled_engine(tiny_model)
    engine.model.generation_config.repetition_penalty = 1.3
    assert not plain_greedy(engine.model.generation_config)
    dec = Decoding(max_new_tokens=12)
    assert [g.text for g in engine.generate(MSGS, dec)] == [g.text for g in engine.generate_padded(MSGS, dec)]
    assert plain_greedy(GenerationConfig()) and not plain_greedy(GenerationConfig(min_new_tokens=3))


def test_bf16_on_a_cpu_that_has_it(tiny_model):
    from qmr_core.device import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("this CPU has no AVX512-BF16 / AMX")
    engine = HFEngine(resolve_model(str(tiny_model)), device="cpu", dtype="bf16")
    assert engine.describe()["dtype"] == "bfloat16" and engine.model.dtype == torch.bfloat16
    gens = engine.generate(MSGS, Decoding(max_new_tokens=6))
    assert [g.n_tokens for g in gens] and all(1 <= g.n_tokens <= 6 for g in gens)
