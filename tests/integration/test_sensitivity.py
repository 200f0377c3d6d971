"""Layer-wise sensitivity on a tiny random Llama: replay matches the real forward pass, numbers are stored."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from typer.testing import CliRunner

from qmr_core.sensitivity import layers as sens
from qmr_core.sensitivity.analysis import analyze
from qmr_core.sensitivity.quantizers import RTNQuantizer
from qmr_core.sensitivity.traces import Trace, encode_traces
from qmr_core.cli import app
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
from qmr_core.quant.rtn import RTNSpec, fake_quantize
from qmr_core.sensitivity.grid import load_grid
from qmr_core.sensitivity.table import shade_levels
from qmr_core.store import Store

OUTPUTS = [
    "Step 1: 12 * 7 = 84.\nStep 2: so the answer is \\boxed{84}.",
    "Step 1: Add 3 and 4 to get 7.\nThe answer is \\boxed{7}.",
    "Step 1: 9 - 2 = 7, then 7 * 2 = 14. \\boxed{14}",
]


@pytest.fixture(scope="module")
def engine(tiny_model):
    return HFEngine(resolve_model(str(tiny_model)), device="cpu")


def _store_with_traces(path, engine, model_id: str, n: int = 3) -> Store:
    store = Store(path, create=True)
    store.upsert("runs", [{"run_id": "fp-run", "model_id": model_id, "benchmark": "t", "prompt_template": "steps",
                           "prompt_text": "x", "decoding_json": "{}", "engine": "hf", "status": "done"}])
    rows = []
    for k, out in enumerate(OUTPUTS[:n]):
        prompt = engine.render([{"role": "user", "content": f"Problem {k}: compute it."}])
        rows.append({"run_id": "fp-run", "problem_id": f"t/{k}", "sample_idx": 0, "prompt": prompt, "output": out,
                     "correct": True})
    rows.append({"run_id": "fp-run", "problem_id": "t/wrong", "sample_idx": 0, "prompt": "p", "output": "no",
                 "correct": False})
    store.upsert("samples", rows)
    return store


def _encoded(engine, n=3):
    traces = [Trace(f"t/{k}", engine.render([{"role": "user", "content": f"Problem {k}: compute it."}]), o)
              for k, o in enumerate(OUTPUTS[:n])]
    return encode_traces(engine.tokenizer, traces, 64)


def _reference_nll_and_output(engine, enc, modules: dict[str, torch.Tensor], watch: int) -> tuple[float, torch.Tensor]:
    """Deep-copied model with the given weights replaced, run through its own forward pass."""
    model = copy.deepcopy(engine.model)
    named = dict(model.named_modules())
    for name, w in modules.items():
        named[name].weight.data = w
    seen = {}
    model.model.layers[watch].register_forward_hook(lambda m, a, o: seen.__setitem__("h", o[0] if isinstance(o, tuple) else o))
    with torch.no_grad():
        logits = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, use_cache=False).logits
    nll = torch.nn.functional.cross_entropy(logits[enc.rows, enc.cols].float(), enc.targets).item()
    return nll, seen["h"]


def test_replay_reproduces_the_forward_pass(engine):
    meter = sens.Sensitivity(engine.model, sens.model_layout(engine.model), _encoded(engine), RTNQuantizer(RTNSpec(2, 32)))
    assert meter.replay and meter.replay_diff < 1e-4
    ref_nll, _ = _reference_nll_and_output(engine, meter.encoded, {}, 0)
    assert meter.baseline_nll == pytest.approx(ref_nll, abs=1e-5)


@pytest.mark.parametrize("replay", [True, False])
def test_a_cell_matches_an_independent_computation(engine, replay):
    layout = sens.model_layout(engine.model)
    spec = RTNSpec(2, 32)
    meter = sens.Sensitivity(engine.model, layout, _encoded(engine), RTNQuantizer(spec))
    meter.replay = replay
    before = {k: v.clone() for k, v in engine.model.state_dict().items()}
    row = meter.measure(sens.Config(1, "q_proj"))
    [(name, mod)] = layout.linears[1]["q_proj"]
    q = fake_quantize(mod.weight.data, spec)
    ref_nll, ref_out = _reference_nll_and_output(engine, meter.encoded, {name: q}, 1)
    fp_out = meter.cache.outputs[1]
    valid = meter.encoded.attention_mask.bool()
    ref_err = ((ref_out - fp_out)[valid].norm() / fp_out[valid].norm()).item()
    assert row.nll == pytest.approx(ref_nll, abs=1e-4)
    assert row.out_err == pytest.approx(ref_err, rel=1e-3, abs=1e-6)
    assert row.delta_nll == pytest.approx(row.nll - meter.baseline_nll)
    # the standard error of delta_nll, clustered by trace, from per-token NLLs computed independently
    model = copy.deepcopy(engine.model)
    dict(model.named_modules())[name].weight.data = fake_quantize(mod.weight.data, spec)
    enc = meter.encoded
    with torch.no_grad():
        per_q = torch.nn.functional.cross_entropy(
            model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, use_cache=False).logits[enc.rows, enc.cols],
            enc.targets, reduction="none")
        per_b = torch.nn.functional.cross_entropy(
            engine.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, use_cache=False).logits[enc.rows, enc.cols],
            enc.targets, reduction="none")
    d = (per_q - per_b).double()
    sums = [float((d[enc.rows == t] - d.mean()).sum()) for t in range(3)]
    expected_se = math.sqrt(3 / 2 * sum(x * x for x in sums)) / len(d)
    assert row.delta_nll_se == pytest.approx(expected_se, rel=1e-2, abs=1e-6)
    w = mod.weight.data
    assert row.weight_err == pytest.approx(((w - q).norm() / w.norm()).item(), rel=1e-5)
    after = engine.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "weights were not restored"


def test_more_bits_do_less_damage(engine):
    enc = _encoded(engine)
    layout = sens.model_layout(engine.model)
    whole = sens.Config(sens.EVERY_LAYER, sens.ALL)
    d2 = sens.Sensitivity(engine.model, layout, enc, RTNQuantizer(RTNSpec(2, 32))).measure(whole)
    d8 = sens.Sensitivity(engine.model, layout, enc, RTNQuantizer(RTNSpec(8, 32))).measure(whole)
    assert d2.weight_err > 10 * d8.weight_err
    assert abs(d8.delta_nll) < abs(d2.delta_nll)
    assert d2.out_err > d8.out_err
    assert d2.n_modules == 2 * 7  # two layers x seven projections


def test_configurations_cover_cells_layers_kinds(engine):
    layout = sens.model_layout(engine.model)
    assert layout.kinds == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    configs = sens.configurations(layout, sens.SCOPES)
    assert len(configs) == 1 + 2 + 7 + 2 * 7
    assert len(set(configs)) == len(configs)
    assert sens.configurations(layout, ["layers"]) == [sens.Config(-1, "all"), sens.Config(0, "all"), sens.Config(1, "all")]
    with pytest.raises(Exception, match="unknown scope"):
        sens.configurations(layout, ["rows"])


def test_analyze_stores_and_resumes(tmp_path, engine, tiny_model):
    store = _store_with_traces(tmp_path / "s.duckdb", engine, "tiny")
    q = RTNQuantizer(RTNSpec(3, 32))
    seen = []
    first = analyze(store, engine, "tiny", q, "fp-run", n_traces=8, max_output_tokens=32,
                         on_row=lambda c, r, k, n: seen.append((c, k, n)))
    assert first.replay and first.reused == 0 and len(first.rows) == 24 and len(seen) == 24
    info = store.query_dicts("SELECT * FROM sensitivity_runs")[0]
    assert info["n_traces"] == 3 and info["method"] == "rtn" and info["bits"] == 3 and info["group_size"] == 32
    assert info["baseline_nll"] == pytest.approx(first.baseline_nll)
    assert store.query("SELECT count(*) FROM sensitivity WHERE sens_id = ?", [first.sens_id])[0][0] == 24
    again = analyze(store, engine, "tiny", q, "fp-run", n_traces=8, max_output_tokens=32)
    assert again.sens_id == first.sens_id and again.reused == 24
    grid = load_grid(store)
    assert grid.n_layers == 2 and len(grid.kinds) == 7
    whole = grid.value(-1, "all")
    assert whole is not None and all(math.isfinite(r.nll) for r in grid.cells.values())
    # A different bit width is a different analysis.
    other = analyze(store, engine, "tiny", RTNQuantizer(RTNSpec(4, 32)), "fp-run", 8, 32, ["layers"])
    assert other.sens_id != first.sens_id and len(other.rows) == 3


def test_accuracy_probe_runs_for_coarse_configs_only(tmp_path, engine):
    from qmr_core.benchmarks.registry import Problem
    from qmr_core.engines.base import Decoding
    from qmr_core.benchmarks.prompts import get_template

    store = _store_with_traces(tmp_path / "s.duckdb", engine, "tiny")
    problems = [Problem("t/0", "t", "0", "What is 2+2?", "4")]
    result = analyze(store, engine, "tiny", RTNQuantizer(RTNSpec(3, 32)), "fp-run", 2, 16,
                          ["layers", "cells"], problems, get_template("steps"), Decoding(max_new_tokens=4))
    assert result.baseline_acc is not None
    for row in result.rows:
        coarse = row.module == "all" or row.layer == -1
        assert (row.accuracy is not None) == coarse


def test_shade_levels_rank_values():
    assert shade_levels([None, 1.0, 2.0, 3.0, 4.0, 5.0]) == [None, 0, 1, 2, 3, 4]
    assert shade_levels([2.0, 2.0]) == [0, 0]
    assert shade_levels([None]) == [None]


def test_cli_measures_shows_and_refuses_bad_input(tmp_path, engine, tiny_model):
    db = tmp_path / "s.duckdb"
    _store_with_traces(db, engine, resolve_model(str(tiny_model)).model_id)
    runner = CliRunner()
    res = runner.invoke(app, ["sensitivity", "--model", str(tiny_model), "--bits", "2", "--group-size", "32",
                              "--scope", "layers,kinds", "--max-tokens", "24", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "whole layer" in res.output and "most damaging layers" in res.output and "every" in res.output
    shown = runner.invoke(app, ["sensitivity", "--show", "latest", "--metric", "out_err", "--db", str(db)])
    assert shown.exit_code == 0 and "relative output error" in shown.output
    listed = runner.invoke(app, ["sensitivity", "--list", "--db", str(db)])
    assert listed.exit_code == 0 and "rtn" in listed.output
    for args, message in [
        (["--model", str(tiny_model), "--method", "awq", "--bits", "4"], "unknown method"),
        (["--model", str(tiny_model), "--method", "gptq", "--bits", "4"], "--from"),
        (["--model", f"{tiny_model}@rtn-w4g32", "--bits", "4"], "full-precision model"),
        (["--model", str(tiny_model)], "--bits is required"),
        (["--show", "nope"], "no sensitivity analysis"),
    ]:
        bad = runner.invoke(app, ["sensitivity", *args, "--db", str(db)])
        assert bad.exit_code != 0 and message in bad.output, (args, bad.output)


def test_weights_are_restored_when_the_quantizer_fails(engine):
    layout = sens.model_layout(engine.model)

    class Failing(RTNQuantizer):
        def weight(self, name, w):
            if "up_proj" in name:
                raise RuntimeError("boom")
            return super().weight(name, w)

    meter = sens.Sensitivity(engine.model, layout, _encoded(engine), Failing(RTNSpec(2, 32)))
    before = {k: v.clone() for k, v in engine.model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        meter.measure(sens.Config(0, sens.ALL))  # q..gate are swapped before up_proj fails
    after = engine.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_accuracy_ranks_the_lowest_as_most_damaging():
    from qmr_core.sensitivity.grid import Grid, Row
    from qmr_core.sensitivity.table import extremes

    cells = {(i, "all"): Row(i, "all", 7, 0.1, 0.1, 1.0, 0.1, accuracy=acc) for i, acc in enumerate([0.9, 0.2, 0.6])}
    grid = Grid({}, [], 3, cells)
    assert [i for i, _ in grid.ranked_layers("accuracy")] == [1, 2, 0]
    assert extremes(grid, "accuracy", k=1) == "most damaging layers: 1 (0.200); least: 0 (0.900); gap 0.700"
    assert shade_levels([0.9, 0.2, 0.6], "accuracy") == [0, 3, 1]


def test_the_tui_reads_without_importing_torch():
    import subprocess
    import sys

    code = "import sys, qmr_tui.app, qmr_core.browse.summary, qmr_core.sensitivity.table; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
