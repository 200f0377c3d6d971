"""Engines, quantization backends and judges are chosen through registries: a new entry is picked up
by every caller, and an unknown name is one clear error that lists the known ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qmr_core.engines import (
    ENGINES, Decoding, EngineEntry, Generation, build_engine, engine_entry, engine_key, model_ref_for, register_engine,
)
from qmr_core.engines import registry as engine_registry
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef


class EchoEngine:
    """Answers every prompt with its last message: enough to tell that this engine was the one built."""

    name = "echo"

    def __init__(self, ref: ModelRef, options: dict):
        self.ref, self.options = ref, options

    def generate(self, batch, decoding: Decoding, sample_idx: int = 0) -> list[Generation]:
        return [Generation(text=m[-1]["content"], prompt=m[-1]["content"], n_prompt_tokens=1, n_tokens=1,
                           finish_reason="eos", latency_ms=0.0) for m in batch]

    def describe(self) -> dict:
        return {"engine": "echo"}


@pytest.fixture
def echo_engine() -> Iterator[None]:
    register_engine(EngineEntry(
        "echo",
        model_ref=lambda model, _options: ModelRef(model_id=f"echo:{model}", name=model, source=model, kind="echo"),
        key=lambda _device, _dtype, options: {"engine": "echo", "loud": bool(options.get("loud"))},
        build=lambda ref, _device, _dtype, options: EchoEngine(ref, options),
    ))
    yield
    engine_registry.REGISTRY.remove("echo")


def test_a_registered_engine_is_picked_up(echo_engine):
    assert "echo" in ENGINES and "echo" in ", ".join(ENGINES)
    ref = model_ref_for("echo", "parrot")
    assert ref.model_id == "echo:parrot"
    assert engine_key("echo", options={"loud": 1}) == {"engine": "echo", "loud": True}
    engine = build_engine("echo", ref, options={"loud": 1})
    assert isinstance(engine, EchoEngine) and engine.options == {"loud": 1}
    out = engine.generate([[{"role": "user", "content": "2+2"}]], Decoding())
    assert [g.text for g in out] == ["2+2"]


def test_an_unknown_engine_is_one_error_listing_the_known_ones():
    with pytest.raises(QmrError, match=r"unknown engine 'nope' \(available: hf, openai, vllm\)"):
        engine_entry("nope")
    for call in (lambda: model_ref_for("nope", "m"), lambda: engine_key("nope"),
                 lambda: build_engine("nope", ModelRef("m", "m", "m", "hub"))):
        with pytest.raises(QmrError, match="unknown engine 'nope'"):
            call()


def test_qmr_eval_runs_a_registered_engine(echo_engine, tmp_path):
    from typer.testing import CliRunner

    from qmr_core.cli import app
    from qmr_core.store import Store

    db = tmp_path / "qmr.duckdb"
    result = CliRunner().invoke(app, ["eval", "--engine", "echo", "--model", "parrot", "--benchmark", "sample",
                                      "--limit", "2", "--db", str(db)])
    assert result.exit_code == 0, result.output
    rows = Store(db, write=False).query("SELECT r.model_id, s.output FROM runs r JOIN samples s USING (run_id)")
    assert len(rows) == 2 and {r[0] for r in rows} == {"echo:parrot"}
    assert all(r[1] for r in rows)  # the echoed prompt was stored as the output


# -- quantization backends ------------------------------------------------------------------------


def builtin_rtn_quantize(source, spec, calib_texts, out_dir, on_layer=None):
    """A real backend over qmr's own round-to-nearest: the float model with fake-quantized weights, saved as is."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qmr_core.quant.backend_common import BackendResult
    from qmr_core.quant.rtn import RTNSpec, rtn_quantize_

    model = AutoModelForCausalLM.from_pretrained(source)
    errors = rtn_quantize_(model, RTNSpec(spec.bits, spec.group_size, spec.is_symmetric))
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(source).save_pretrained(out_dir)
    if on_layer:
        on_layer(1, 1)
    return BackendResult("qmr-rtn", "qmr-rtn 0", "float", errors, {"calib_texts": calib_texts})


@pytest.fixture
def rtn_backend(monkeypatch) -> Iterator[None]:
    """A backend module the way a plugin ships one: importable by name, with the QuantBackend face."""
    import sys
    import types

    from qmr_core.quant import spec

    module = types.ModuleType("qmr_rtn_backend")
    module.quantize = builtin_rtn_quantize  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "qmr_rtn_backend", module)
    spec.register_backend(spec.BackendEntry("qmr-rtn", ("rtn",), "qmr_rtn_backend"))
    yield
    spec.BACKEND_REGISTRY.remove("qmr-rtn")


def test_a_registered_quant_backend_is_picked_up(rtn_backend, tiny_model, tmp_path):
    from qmr_core.quant.api import load_quantized, quantize
    from qmr_core.quant.spec import BACKENDS, QuantSpec

    assert "qmr-rtn" in BACKENDS
    with pytest.raises(QmrError, match="qmr-rtn does not do gptq; use --backend llmcompressor"):
        QuantSpec("gptq", 4, backend="qmr-rtn")
    layers: list[tuple[int, int]] = []
    qm = quantize(str(tiny_model), QuantSpec("rtn", 4, backend="qmr-rtn"), tmp_path / "q", on_layer=lambda *a: layers.append(a))
    assert (qm.backend, qm.checkpoint_format, layers) == ("qmr-rtn", "float", [(1, 1)])
    assert qm.spec.group_size > 0 and qm.layer_errors and all(0 < e < 0.5 for e in qm.layer_errors.values())
    again = load_quantized(tmp_path / "q")
    assert again is not None and again.backend == "qmr-rtn" and again.layer_errors == qm.layer_errors


def test_an_unknown_quant_backend_is_one_error_listing_the_known_ones():
    from qmr_core.quant.spec import QuantSpec, backend_entry

    for call in (lambda: backend_entry("autogptq"), lambda: QuantSpec("gptq", 4, backend="autogptq")):
        with pytest.raises(QmrError, match=r"unknown backend 'autogptq' \(choose from llmcompressor, gptqmodel\)"):
            call()


# -- judges ----------------------------------------------------------------------------------------


class LastStepJudge:
    """The 'blame the last step' baseline of step-location benchmarks, as a judge that needs no model."""

    def __init__(self, spec, settings):
        from qmr_core.diagnose.judge import JudgeVerdict

        self.spec, self.settings, self.notes, self.constrained = spec, settings, [], False
        self._verdict = JudgeVerdict

    @property
    def name(self) -> str:
        return self.spec.spec

    def protocol(self) -> dict:
        return {"version": "last-step", "samples": self.settings.samples}

    def judge_samples(self, cases, batch_size=4, on_batch=None):
        from qmr_core.diagnose.judge import n_shown

        out = []
        for case in cases:
            last = n_shown(case) - 1
            out.append([(f"step {last}", self._verdict(True, None, last, "Execution", "the last step"), 0.0)]
                       * self.settings.samples)
        if on_batch:
            on_batch(len(cases))
        return out

    def judge(self, cases, batch_size=4, on_batch=None):
        return [votes[0] for votes in self.judge_samples(cases, batch_size, on_batch)]


@pytest.fixture
def last_step_judge() -> Iterator[None]:
    from qmr_core.diagnose import judge

    judge.register_judge("last", judge.JudgeKind(lambda spec, _device, settings: LastStepJudge(spec, settings)))
    yield
    judge.JUDGES.remove("last")


def test_a_registered_judge_is_picked_up_by_judge_bench(last_step_judge, tmp_path):
    import json

    from typer.testing import CliRunner

    from qmr_core.cli import app
    from qmr_core.diagnose.judge import build_judge, parse_judge_spec

    assert isinstance(build_judge(parse_judge_spec("last:steps")), LastStepJudge)
    rows = [
        {"id": "a", "problem": "p", "steps": ["3 + 4 = 7.", "7 * 2 = 15."], "label": 1},
        {"id": "b", "problem": "p", "steps": ["3 + 4 = 7.", "so 7."], "label": -1},
        {"id": "c", "problem": "p", "steps": ["3 + 4 = 8.", "so 8."], "label": 0},
    ]
    f = tmp_path / "pb.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["judge-bench", str(f), "--judge", "last:steps", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)["results"]["last:steps"]
    assert (got["acc_error"], got["acc_correct"], got["n_votes"], got["constrained"]) == (0.5, 0.0, 3, False)


def test_an_unknown_judge_is_one_error_listing_the_known_ones():
    from qmr_core.diagnose.judge import JudgeSpec, build_judge, parse_judge_spec

    with pytest.raises(QmrError, match=r"judge 'gpt:x': unknown engine 'gpt' \(available: hf, openai, vllm\)"):
        parse_judge_spec("gpt:x")
    with pytest.raises(QmrError, match=r"unknown judge 'gpt' \(available: symbolic, hf:MODEL, openai:MODEL, vllm:MODEL\)"):
        build_judge(JudgeSpec("gpt:x", "gpt", "x"))
    with pytest.raises(QmrError, match="not an LLM judge"):
        build_judge(parse_judge_spec("symbolic"))
