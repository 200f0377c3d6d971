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
    engine_registry._ENGINES.pop("echo", None)


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
