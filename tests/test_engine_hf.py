import torch

from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.model_registry import resolve_model

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
