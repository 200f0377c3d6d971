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


def test_regrade_lists_every_flip_of_grader_1_1(tmp_path):
    """The issue-14 loop (a step label read as the answer) and an approximation of an exact gold,
    both graded right by grader 1.0, flip to wrong; a requested rounding stays right."""
    path = tmp_path / "f.duckdb"
    store = Store(path)
    loop = "".join(f"Step {i}: 3x = 24.\n" for i in range(1, 8)) + "Step 8: "
    problems = [("s/loop", "Solve for $x$: $3x = 24$.", "8"), ("s/third", "Compute $1 \\div 3$.", "\\frac{1}{3}"),
                ("s/round", "Round $\\frac13$ to the nearest hundredth.", "\\frac{1}{3}")]
    store.upsert("problems", [dict(problem_id=p, benchmark="s", unique_id=p[2:], kind="math", problem=text, answer=a,
                                   content_hash="h") for p, text, a in problems])
    store.upsert("runs", [dict(run_id="run1", model_id="m", benchmark="s", prompt_template="steps", prompt_text="t",
                               decoding_json="{}", engine="hf", status="done")])
    old = [("s/loop", loop, "8", "length"), ("s/third", "So \\boxed{0.333}.", "0.333", "eos"),
           ("s/round", "So \\boxed{0.33}.", "0.33", "eos")]
    store.upsert("samples", [dict(run_id="run1", problem_id=p, sample_idx=0, output=o, extracted_answer=a, correct=True,
                                  grade_rule="numeric", grader_version="qmr-grader/1.0", finish_reason=f)
                             for p, o, a, f in old])
    result = CliRunner().invoke(app, ["regrade", "--db", str(path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2 flipped verdict(s)" in text
    assert "run1 s/loop: right -> wrong answer '8' -> None rule numeric -> no-answer (truncated)" in text
    assert "run1 s/third: right -> wrong answer '0.333' -> '0.333' rule numeric -> mismatch" in text
    assert "s/round" not in text
    rows = dict(Store(path, create=False).query("SELECT problem_id, extract_method FROM samples"))
    assert rows["s/loop"] == "truncated" and rows["s/third"] == "boxed"
