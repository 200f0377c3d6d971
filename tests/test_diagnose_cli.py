"""`qmr compare`, `qmr diagnose`, `qmr errors`, `qmr judge-bench` end to end, and how evidence combines."""

import json

import duckdb
import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.diagnose.judge import Majority
from qmr_core.diagnose.pipeline import _combine, diagnose_run
from qmr_core.store.queries import run_model_spec
from qmr_core.diagnose.rules import RuleVerdict, degenerate, periodic_tail, repeated_step
from qmr_core.store import Store
from tests.test_compare import add_problem, add_run, add_sample

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert "Traceback" not in text and text.startswith("error:"), text
    return text


def test_every_command_has_help_with_an_example():
    for cmd in ("compare", "diagnose", "errors", "judge-bench"):
        result = run(cmd, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, cmd


# -- the whole loop on the tiny model ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_store(tiny_model, tmp_path_factory):
    db = tmp_path_factory.mktemp("diag") / "d.duckdb"
    for model in (tiny_model, f"{tiny_model}@rtn-w2g64"):
        result = run("eval", "--model", model, "--benchmark", "sample", "--limit", 3, "-k", 3, "-t", 12, "--device", "cpu", "--db", db)
        assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    runs = dict(con.execute("SELECT model_id, run_id FROM runs").fetchall())
    con.close()
    base = next(r for m, r in runs.items() if "@" not in m)
    quant = next(r for m, r in runs.items() if "@" in m)
    return db, base, quant


def test_compare_diagnose_errors_on_the_tiny_model(tiny_store, tiny_model):
    db, base, quant = tiny_store
    cmp = run("compare", "--base", base[:6], "--quant", quant[:6], "--db", db)
    assert cmp.exit_code == 0, cmp.output
    assert "problems paired" in cmp.output and "by subject" in cmp.output
    js = run("compare", "--quant", quant, "--json", "--db", db)  # base inferred from the model's base model
    assert js.exit_code == 0, js.output
    assert json.loads(js.output)[0]["base_run_id"] == base

    judge = f"hf:{tiny_model}"
    diag = run("diagnose", "--run", quant[:6], "--base", base, "--judge", "symbolic", "--judge", judge,
               "--device", "cpu", "--db", db)
    assert diag.exit_code == 0, diag.output
    con = duckdb.connect(str(db), read_only=True)
    n_failing = con.execute("SELECT count(*) FROM samples WHERE run_id = ? AND NOT correct", [quant]).fetchone()[0]
    assert n_failing > 0
    per_judge = dict(con.execute("SELECT judge, count(*) FROM diagnoses WHERE run_id = ? GROUP BY 1", [quant]).fetchall())
    assert per_judge == {"rules": n_failing, "symbolic": n_failing, judge: n_failing, "combined": n_failing}
    votes = con.execute("SELECT raw_output, parsed, parse_error, prompt_version FROM judge_votes WHERE run_id = ?", [quant]).fetchall()
    assert len(votes) == n_failing
    assert all(raw is not None and (parsed or err) and pv == "judge-v1" for raw, parsed, err, pv in votes)
    pairs = con.execute("SELECT count(*) FROM pairs WHERE base_run_id = ? AND quant_run_id = ?", [base, quant]).fetchone()[0]
    assert pairs == 3
    flips = con.execute("SELECT problem_id, n_tokens, first_flip_token, n_control_mismatch FROM flips ORDER BY 1").fetchall()
    assert len(flips) == n_failing and all(n > 0 and ctrl is not None for _p, n, _f, ctrl in flips)
    evidence = json.loads(con.execute("SELECT evidence_json FROM diagnoses WHERE judge = 'combined' LIMIT 1").fetchone()[0])
    assert {"rules", "symbolic", "votes", "majority", "first_flip_step", "first_divergent_step", "lost"} <= evidence.keys()
    capabilities = con.execute("SELECT DISTINCT error_type, capability FROM diagnoses WHERE error_type IS NOT NULL").fetchall()
    con.close()
    from qmr_core.diagnose.taxonomy import capability_of

    assert all(cap == capability_of(t) for t, cap in capabilities)

    # again: votes and flips are reused, rows replaced, nothing doubled
    again = run("diagnose", "--run", quant, "--judge", "symbolic", "--judge", judge, "--device", "cpu", "--db", db)
    assert again.exit_code == 0, again.output
    assert "teacher-forced traces: 0" in again.output  # already stored
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM diagnoses WHERE run_id = ?", [quant]).fetchone()[0] == 4 * n_failing
    assert con.execute("SELECT count(*) FROM judge_votes").fetchone()[0] == n_failing
    con.close()

    errors = run("errors", "--db", db)
    assert errors.exit_code == 0, errors.output
    assert "error types (combined)" in errors.output and "capabilities (combined)" in errors.output
    by_rules = run("errors", "--run", quant[:6], "--judge", "rules", "--db", db)
    assert by_rules.exit_code == 0 and "rules" in by_rules.output


def test_model_spec_of_a_run(tiny_store, tiny_model):
    db, base, quant = tiny_store
    store = Store(db, create=False)
    assert run_model_spec(store, quant).endswith("@rtn-w2g64")
    assert run_model_spec(store, base) == str(tiny_model)


def test_cli_errors_are_one_line(tiny_store, tmp_path):
    db, base, quant = tiny_store
    assert "no run" in error_line(run("diagnose", "--run", "zzzz", "--db", db))
    assert "unknown engine" in error_line(run("diagnose", "--run", quant, "--judge", "gpt:x", "--db", db))
    assert "ENGINE:MODEL" in error_line(run("diagnose", "--run", quant, "--judge", "bogus", "--db", db))
    assert "same run" in error_line(run("compare", "--base", base, "--quant", base, "--db", db))
    assert "infer" in error_line(run("compare", "--quant", base, "--db", db))
    assert "no ProcessBench file" in error_line(run("judge-bench", tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "p", "steps": ["a"], "label": 3}\n')
    assert "bad.jsonl:1" in error_line(run("judge-bench", bad))
    assert "no qmr store" in error_line(run("errors", "--db", tmp_path / "none.duckdb"))


def test_judge_bench_on_a_small_file(tmp_path, tiny_model):
    rows = [
        {"id": "a", "problem": "p", "steps": ["3 + 4 = 7.", "7 * 2 = 15."], "label": 1},  # symbolic finds it
        {"id": "b", "problem": "p", "steps": ["3 + 4 = 8.", "so 8."], "label": -1},  # a flag where none is: wrong
        {"id": "c", "problem": "p", "steps": ["3 + 4 = 7.", "Then we double it."], "label": 1},  # missed
        {"id": "d", "problem": "p", "steps": ["3 + 4 = 7."], "label": -1},
    ]
    f = tmp_path / "pb.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run("judge-bench", f, "--json")
    assert res.exit_code == 0, res.output
    sym = json.loads(res.output)["results"]["symbolic"]
    assert (sym["acc_error"], sym["acc_correct"]) == (0.5, 0.5) and sym["f1"] == pytest.approx(0.5)
    assert (sym["flags_right"], sym["flags_wrong"], sym["flag_precision"]) == (1, 1, 0.5)
    table = run("judge-bench", f, "--judge", "symbolic", "--judge", f"hf:{tiny_model}", "--device", "cpu", "--limit", 2)
    assert table.exit_code == 0, table.output
    assert "pipeline" in table.output and "flag precision" in table.output


# -- evidence and rules on a hand-built store ----------------------------------------------------


def test_symbolic_diagnosis_and_flags_on_a_hand_built_store(tmp_path):
    st = Store(tmp_path / "h.duckdb")
    add_run(st, "base", "m")
    add_run(st, "quant", "m@rtn-w3g64", base_model_id="m")
    add_problem(st, "p1", "algebra", 1)
    add_sample(st, "base", "p1", True, "Step 1: 4 * 6 = 24.\nStep 2: 24 + 1 = 25.\nThe answer is \\boxed{25}.")
    add_sample(st, "quant", "p1", False, "Step 1: 4 * 6 = 24.\nStep 2: 24 + 1 = 26.\nThe answer is \\boxed{26}.")
    report = diagnose_run(st, "quant", judges=["symbolic"], teacher_forcing=False)
    assert report.base_run_id == "base" and report.lost == ["p1"] and report.n_flags == 1
    flag = st.query_dicts("SELECT * FROM symbolic_flags")[0]
    assert (flag["step_idx"], flag["claim"], flag["stated"], flag["true_value"]) == (1, "24 + 1 = 26", "26", "25")
    rows = {r["judge"]: r for r in st.query_dicts("SELECT * FROM diagnoses")}
    assert set(rows) == {"rules", "symbolic", "combined"}
    assert (rows["symbolic"]["first_error_step"], rows["symbolic"]["error_type"]) == (1, "Execution")
    assert rows["combined"]["capability"] == "numerical computation"
    assert rows["rules"]["error_type"] is None
    ev = json.loads(rows["combined"]["evidence_json"])
    assert ev["first_divergent_step"] == 1 and ev["lost"] is True
    with pytest.raises(Exception, match="--only-lost"):
        diagnose_run(st, "base", judges=["symbolic"], infer_base=False, only_lost=True)


def test_combining_evidence():
    sym = (3, "12 * 7 = 86 is false: 84, not 86")
    loop = RuleVerdict("repetition", 5, "loop")
    vote = Majority(1, "Conceptual", 3, 2 / 3)
    assert _combine(None, *sym, vote)[:2] == (3, "Execution")  # checked evidence before votes
    assert _combine(loop, *sym, None)[:2] == (3, "Execution")  # the earlier checked finding
    assert _combine(RuleVerdict("repetition", 2, "loop"), *sym, vote)[:2] == (2, "Degenerate")
    assert _combine(RuleVerdict("repetition", 3, "loop"), *sym, None)[:2] == (3, "Execution")  # tie: the specific one
    assert _combine(RuleVerdict("no-answer", None, "none"), None, None, vote)[:2] == (None, "Degenerate")
    assert _combine(None, None, None, vote)[:2] == (1, "Conceptual")
    assert _combine(None, None, None, Majority(None, None, 2, 1.0)) == (None, None, "no judge located the error")
    assert _combine(None, None, None, None)[:2] == (None, None)


def test_degenerate_rules():
    steps = ["Step 1: 2 + 2 = 4.", "Step 2: Let x be 4.", "Step 3: Let x be 4.", "Step 4: Let x be 4."]
    assert repeated_step(steps) == (2, "let x be 4.")
    assert periodic_tail("The answer is " + "0" * 40) is not None
    assert periodic_tail("Step 1: 3 + 4 = 7. The answer is 7.") is None
    spans = [(0, 10), (11, 20), (21, 30), (31, 40)]
    v = degenerate("x", steps, spans, "length", None)
    assert (v.kind, v.first_error_step) == ("repetition", 2)
    text = "Step 1: 3 + 4 = 7.\nStep 2: We keep going"
    assert degenerate(text, ["Step 1: 3 + 4 = 7.", "Step 2: We keep going"], [(0, 18), (19, 40)], "length", None).kind == "truncation"
    # an answer found only as the last number is no final answer; a boxed one is
    assert degenerate(text, ["a", "b"], [(0, 18), (19, 40)], "length", "7", "last_number").kind == "truncation"
    assert degenerate(text, ["a", "b"], [(0, 18), (19, 40)], "length", "7", "boxed") is None
    assert degenerate(text, ["a", "b"], [(0, 18), (19, 40)], "eos", None).kind == "no-answer"
    assert degenerate(text, ["a", "b"], [(0, 18), (19, 40)], "eos", "7", "boxed") is None
