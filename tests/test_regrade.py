from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.grading import GRADER_VERSION
from qmr_core.regrade import regrade_run
from qmr_core.store import Store


def _store(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.upsert("problems", [dict(problem_id="s/1", benchmark="s", unique_id="1", kind="math", problem="p",
                                   answer="\\frac{1}{2}", content_hash="h")])
    store.upsert("runs", [dict(run_id="run1", model_id="m", benchmark="s", prompt_template="steps", prompt_text="t",
                               decoding_json="{}", engine="hf", status="done")])
    # stored by an older grader that judged 0.5 wrong
    store.upsert("samples", [dict(run_id="run1", problem_id="s/1", sample_idx=0, output="So \\boxed{0.5}.",
                                  extracted_answer="0.5", correct=False, grade_rule="mismatch", grader_version="old/0")])
    return store


def test_regrade_flips_and_records_version(tmp_path):
    store = _store(tmp_path)
    dry = regrade_run(store, "run1", write=False)
    assert dry.now_correct == ["s/1"] and store.query("SELECT correct FROM samples")[0][0] is False
    rep = regrade_run(store, "run1")
    assert rep.changed == 1 and rep.old_versions == {"old/0"}
    assert store.query("SELECT correct, grader_version FROM samples")[0] == (True, GRADER_VERSION)
    assert regrade_run(store, "run1").changed == 0


def test_regrade_cli(tmp_path):
    _store(tmp_path)
    result = CliRunner().invoke(app, ["regrade", "run1", "--db", str(tmp_path / "r.duckdb")])
    assert result.exit_code == 0, result.output
    assert "wrong -> right" in result.output
