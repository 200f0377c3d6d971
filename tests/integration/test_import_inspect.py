"""`qmr import inspect` on a log Inspect AI itself wrote (tests/fixtures/inspect/make_inspect.py), paired with qmr."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import needs_smollm2
from qmr_core.cli import app
from qmr_core.errors import QmrError
from qmr_core.importers.common import ModelOverride
from qmr_core.importers.inspect_log import import_inspect, read_log
from qmr_core.importers.verdicts import agreement, disagreements
from qmr_core.store import Store

FIXTURE = next((Path(__file__).parents[1] / "fixtures" / "inspect").glob("*.eval"))
runner = CliRunner()


@needs_smollm2
def test_inspect_log_imports_with_ids_prompts_scores_and_model(shared_data, tmp_path):
    store = Store(tmp_path / "i.duckdb")
    result = import_inspect(store, FIXTURE, benchmark="gsm8k")
    assert (result.model_id, result.benchmark, result.n_samples, result.n_problems, result.n_mapped) == (
        "smollm2-135m", "gsm8k", 6, 6, 6)
    rows = store.query_dicts("SELECT problem_id, sample_idx, prompt, finish_reason, n_tokens FROM samples ORDER BY problem_id")
    assert [r["problem_id"] for r in rows] == [f"gsm8k/test/{i}" for i in range(6)]  # matched by text to qmr's ids
    assert all(r["finish_reason"] == "length" and r["n_tokens"] == 96 for r in rows)  # used the whole budget
    problem = store.query("SELECT problem FROM problems WHERE problem_id = 'gsm8k/test/0'")[0][0]
    first = rows[0]["prompt"]
    assert first.startswith("<|im_start|>system\n") and first.endswith("<|im_start|>assistant\n") and problem in first
    # Inspect's own scores sit beside qmr's regrade; the headline scorer is counted against it
    verdicts = store.query("SELECT metric, value, correct FROM external_verdicts ORDER BY problem_id")
    assert len(verdicts) == 6 and {v[0] for v in verdicts} == {"match"} and all(v[1] == "I" and v[2] is False for v in verdicts)
    assert result.tool_score == 0.0 and result.tool_metric == "match accuracy"
    (a,) = agreement(store, [result.run_id])
    assert (a.source, a.n, a.tool_right, a.disagree) == ("inspect", 6, 0, a.qmr_right)
    # importing again updates the same run
    assert import_inspect(store, FIXTURE, benchmark="gsm8k").run_id == result.run_id
    assert store.query("SELECT count(*) FROM samples")[0][0] == 6


@needs_smollm2
def test_a_disagreement_is_listed(shared_data, tmp_path):
    """Edit one score to 'C' (Inspect says right, qmr regrades wrong): it is counted and listed."""
    pytest.importorskip("inspect_ai", reason="the interop extra (inspect-ai) is needed to rewrite an .eval log")
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(FIXTURE))
    log.samples[2].scores["match"].value = "C"
    edited = tmp_path / "edited.json"
    write_eval_log(log, str(edited), format="json")
    store = Store(tmp_path / "d.duckdb")
    result = import_inspect(store, edited, benchmark="gsm8k")
    assert result.n_disagree == 1
    (row,) = disagreements(store, result.run_id)
    assert (row.problem_id, row.tool_correct, row.qmr_correct) == ("gsm8k/test/2", True, False)


def test_json_logs_read_without_inspect_installed(tmp_path, monkeypatch):
    pytest.importorskip("inspect_ai", reason="the interop extra (inspect-ai) is needed to make a JSON copy of the log")
    from inspect_ai.log import read_eval_log, write_eval_log

    as_json = tmp_path / "log.json"
    write_eval_log(read_eval_log(str(FIXTURE)), str(as_json), format="json")
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # `from inspect_ai.log import ...` now fails
    data = read_log(as_json)
    assert data["eval"]["task"] == "gsm8k_plain" and len(data["samples"]) == 6
    with pytest.raises(QmrError, match="pip install inspect-ai"):
        read_log(FIXTURE)


def test_bad_logs_give_one_error_line(tmp_path):
    not_a_log = tmp_path / "x.json"
    not_a_log.write_text(json.dumps({"hello": 1}))
    with pytest.raises(QmrError, match="not an Inspect eval log"):
        read_log(not_a_log)
    garbage = tmp_path / "y.eval"
    garbage.write_bytes(b"\x00\x01garbage")
    with pytest.raises(QmrError, match="y.eval"):
        read_log(garbage)
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(QmrError, match="--benchmark"):  # task gsm8k_plain is not named like a known task
        import_inspect(store, FIXTURE)
    with pytest.raises(QmrError, match="--method"):
        import_inspect(store, FIXTURE, ModelOverride(base_model_id="x"), benchmark="gsm8k")
    res = runner.invoke(app, ["import", "inspect", str(tmp_path / "missing.eval"), "--db", str(tmp_path / "c.duckdb")])
    assert res.exit_code == 1 and res.output.startswith("error:") and "not a file" in res.output
