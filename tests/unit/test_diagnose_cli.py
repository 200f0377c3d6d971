"""`qmr compare`, `qmr diagnose`, `qmr errors`, `qmr judge-bench` end to end, and how evidence combines."""

import json

import duckdb
import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.diagnose.pipeline import diagnose_run
from qmr_core.store.queries import run_model_spec
from qmr_core.diagnose.rules import degenerate, findings, periodic_tail, repeated_step
from qmr_core.store import Store
from tests.helpers.toy_store import add_problem, add_run, add_sample

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
    votes = con.execute("SELECT raw_output, parsed, parse_error, prompt_version, protocol_json, first_error_step, "
                        "error_type FROM judge_votes WHERE run_id = ?", [quant]).fetchall()
    assert len(votes) == n_failing
    # constrained decoding: even a random model's every vote is a parsed, in-range verdict
    steps = dict(con.execute("SELECT problem_id, count(*) FROM steps WHERE run_id = ? GROUP BY 1", [quant]).fetchall())
    for raw, parsed, err, pv, protocol, step, etype in votes:
        assert parsed and err is None and pv == "judge-v2", (raw, err)
        assert json.loads(protocol)["constrained"] is True
        assert step is None or (0 <= step < max(steps.values()) and etype is not None)
    pairs = con.execute("SELECT count(*) FROM pairs WHERE base_run_id = ? AND quant_run_id = ?", [base, quant]).fetchone()[0]
    assert pairs == 3
    flips = con.execute("SELECT problem_id, n_tokens, first_flip_token, n_control_mismatch FROM flips ORDER BY 1").fetchall()
    assert len(flips) == n_failing and all(n > 0 and ctrl is not None for _p, n, _f, ctrl in flips)
    evidence = json.loads(con.execute("SELECT evidence_json FROM diagnoses WHERE judge = 'combined' LIMIT 1").fetchone()[0])
    assert {"rules", "symbolic", "votes", "majority", "first_flip_step", "first_divergent_step", "lost"} <= evidence.keys()
    # the combine rule: the earliest step any locator put forward, typed by the source that located it
    rows = con.execute("SELECT problem_id, sample_idx, judge, first_error_step, error_type, located_by, evidence_json "
                       "FROM diagnoses WHERE run_id = ?", [quant]).fetchall()
    by_sample: dict = {}
    for pid, idx, j, step, etype, located_by, ev in rows:
        by_sample.setdefault((pid, idx), {})[j] = (step, etype, located_by, ev)
    n_located = 0
    for key, judged in by_sample.items():
        ev = json.loads(judged["combined"][3])
        candidates = [(judged[judge][0], "llm"), (judged["symbolic"][0], "symbolic")]
        candidates += [(f["step"], f"degenerate:{f['kind']}") for f in ev["rules"]]
        located = [c for c in candidates if c[0] is not None]
        step, etype, located_by, _ev = judged["combined"]
        if not located:
            assert step is None, key  # a Degenerate finding without a step (no steps at all) may still type it
            assert located_by is None or (etype == "Degenerate" and located_by.startswith("degenerate:")), key
            continue
        n_located += 1
        assert step == min(c[0] for c in located), (key, candidates)
        assert located_by in {src for s_, src in located if s_ == step}
        if located_by == "llm":
            assert etype == judged[judge][1]
        assert all(d["step"] != step for d in ev["disagreements"] if d["what"] == "locator: another step")
    assert f"combined verdicts: {n_located} locate a step, {n_failing - n_located} say" in diag.output.replace("\n", " ")
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
    # a stored vote is read again from its raw output: a reading stored by an older reader is corrected
    con = duckdb.connect(str(db))
    con.execute("UPDATE judge_votes SET parsed = false, parse_error = 'no-verdict', first_error_step = NULL")
    created = con.execute("SELECT problem_id, sample_idx, created_at FROM judge_votes ORDER BY ALL").fetchall()
    con.close()
    assert run("diagnose", "--run", quant, "--judge", "symbolic", "--judge", judge, "--device", "cpu", "--db", db).exit_code == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM judge_votes WHERE parsed AND parse_error IS NULL").fetchone()[0] == n_failing
    # corrected in place: the vote keeps its creation time
    assert con.execute("SELECT problem_id, sample_idx, created_at FROM judge_votes ORDER BY ALL").fetchall() == created
    con.close()

    errors = run("errors", "--db", db)
    assert errors.exit_code == 0, errors.output
    assert "error types (combined)" in errors.output and "capabilities (combined)" in errors.output
    assert "Degenerate findings" in errors.output and "abandoned" in errors.output
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
    assert "pipeline" in table.output and "flag precision" in table.output and "GPT-4o 63.6" in table.output
    # an LLM judge, K = 3 constrained samples, two splits: Pass@1, Maj@K, per split and averaged
    g = tmp_path / "processbench_math.jsonl"
    g.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    res = run("judge-bench", f, g, "--judge", f"hf:{tiny_model}", "--judge-samples", 3, "--device", "cpu", "--json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert set(body["splits"]) == {"pb", "math"}
    llm = body["splits"]["pb"]["results"][f"hf:{tiny_model}"]
    assert (llm["k"], llm["n_votes"], llm["n_unparsed"], llm["constrained"]) == (3, 12, 0, True)
    assert (llm["n_error"], llm["n_correct"]) == (2, 2) and 0 <= llm["f1"] <= 1 and 0 <= llm["maj"]["f1"] <= 1
    avg = body["average"][f"hf:{tiny_model}"]
    per_split = [body["splits"][sp]["results"][f"hf:{tiny_model}"]["f1"] for sp in ("pb", "math")]
    assert avg["f1"] == pytest.approx(sum(per_split) / 2)
    assert "listed twice" in error_line(run("judge-bench", f, "--judge", "symbolic", "--judge", "symbolic"))
    both = json.loads(run("judge-bench", f, "--limit", 2, "--balanced", "--json").output)["results"]["symbolic"]
    assert (both["n_error"], both["n_correct"]) == (1, 1)  # the first erroneous and the first correct row
    assert "--balanced needs --limit" in error_line(run("judge-bench", f, "--balanced"))


def test_majority_and_pipeline_on_processbench_rows():
    from qmr_core.diagnose.judge_bench import majority_prediction, pipeline_predictions

    assert majority_prediction([2, 2, -1]) == 2
    assert majority_prediction([-1, -1, 3]) == -1  # "no error" is a vote here: the answer may be right
    assert majority_prediction([3, 1, -1]) == 1  # a tie: the earliest step, -1 last
    assert majority_prediction([-1, 4]) == 4
    assert majority_prediction([None, None]) is None
    # earliest located step of any locator; -1 when every locator answered "none"; None when none answered
    assert pipeline_predictions([None, 3, None, None], [[1, 2, -1, None]]) == [1, 2, -1, -1]
    assert pipeline_predictions(None, [[1, -1, None], [0, -1, None]]) == [0, -1, None]


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
    assert rows["combined"]["located_by"] == "symbolic" and rows["combined"]["subtype"] is None
    # the fp-divergence hook: an earlier judge-free location wins the step, names no type, and is recorded
    diagnose_run(st, "quant", judges=["symbolic"], teacher_forcing=False, fp_locator={("p1", 0): 0})
    hooked = st.query_dicts("SELECT * FROM diagnoses WHERE judge = 'combined'")[0]
    assert (hooked["first_error_step"], hooked["error_type"], hooked["located_by"]) == (0, None, "divergence")
    assert json.loads(hooked["evidence_json"])["disagreements"][0]["source"] == "symbolic"
    fp_row = st.query_dicts("SELECT * FROM diagnoses WHERE judge = 'fp-divergence'")[0]
    untyped = run("errors", "--db", tmp_path / "h.duckdb").output  # located but untyped is not "unlocated"
    first_table = untyped.split("capabilities")[0]
    row = {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in first_table.splitlines() if ln.count("│") == 3}
    assert row["located, no type"] == "1 (100%)" and row["unlocated"] == "-"
    assert (fp_row["first_error_step"], fp_row["error_type"], fp_row["located_by"]) == (0, None, "divergence")
    # from the stored divergence rows (what `qmr diagnose --fp-locator` reads): step 1 is the symbolic flag's step too
    st.upsert("divergence", [{"base_run_id": "base", "quant_run_id": "quant", "problem_id": "p1", "sample_idx": 0,
                              "base_sample_idx": 0, "fp_n_tokens": 3, "q_n_tokens": 3, "n_seams": 0,
                              "unlikely_nats": 3.0, "first_unlikely_step": 1}])
    diagnose_run(st, "quant", judges=["symbolic"], teacher_forcing=False, divergence=False, fp_locator=True)
    both = st.query_dicts("SELECT * FROM diagnoses WHERE judge = 'combined'")[0]
    assert (both["first_error_step"], both["error_type"], both["located_by"]) == (1, "Execution", "symbolic")
    assert st.query("SELECT first_error_step FROM diagnoses WHERE judge = 'fp-divergence'") == [(1,)]
    # a rerun without the locator drops its rows, so no stale verdict stays beside the new combined one
    diagnose_run(st, "quant", judges=["symbolic"], teacher_forcing=False, divergence=False)
    assert st.query("SELECT count(*) FROM diagnoses WHERE judge = 'fp-divergence'") == [(0,)]
    with pytest.raises(Exception, match="--fp-locator needs a base run"):
        diagnose_run(st, "quant", judges=["symbolic"], infer_base=False, fp_locator=True)
    ev = json.loads(rows["combined"]["evidence_json"])
    assert ev["first_divergent_step"] == 1 and ev["lost"] is True
    with pytest.raises(Exception, match="--only-lost"):
        diagnose_run(st, "base", judges=["symbolic"], infer_base=False, only_lost=True)


def _vote(step, etype="Execution"):
    from qmr_core.diagnose.judge import JudgeVerdict

    return JudgeVerdict(True, None, step, etype if step is not None else None, "", "json")


def test_combined_verdict_is_the_earliest_located_step():
    from qmr_core.diagnose.combine import Locator, combine, llm_locator
    from qmr_core.diagnose.judge import majority_vote

    sym = Locator("symbolic", 3, "Execution", "12 * 7 = 86 is false")
    loop = Locator("degenerate:repetition", 5, "Degenerate", "loop", "repetition")
    votes = [("hf:a", _vote(1, "Conceptual")), ("hf:b", _vote(1, "Conceptual")), ("hf:c", _vote(4, "Method"))]
    llm = llm_locator(majority_vote([v for _j, v in votes]))
    c = combine([llm, sym, loop], votes)
    # the LLM located an earlier step than the symbolic flag: it is not overridden
    assert (c.step, c.error_type, c.located_by) == (1, "Conceptual", "llm")
    assert (c.n_located_votes, c.n_agreeing_votes) == (3, 2)
    assert {(d["source"], d["step"]) for d in c.disagreements} == {("symbolic", 3), ("degenerate:repetition", 5), ("hf:c", 4)}
    # an earlier checked finding wins, with its own type
    early_loop = Locator("degenerate:repetition", 0, "Degenerate", "loop", "repetition")
    c = combine([llm, sym, early_loop], votes)
    assert (c.step, c.error_type, c.subtype, c.located_by) == (0, "Degenerate", "repetition", "degenerate:repetition")
    # same step: the LLM's type; without a typed LLM vote there, the source that located it
    c = combine([llm_locator(majority_vote([_vote(3, "Method")])), sym], [("hf:a", _vote(3, "Method"))])
    assert (c.step, c.error_type, c.located_by) == (3, "Method", "llm")
    assert [d["what"] for d in c.disagreements] == ["locator: another type"]
    assert combine([sym, loop]).error_type == "Execution"
    # nothing located: said plainly, no step, no agreement claimed
    none_votes = [("hf:a", _vote(None)), ("hf:b", _vote(None))]
    c = combine([llm_locator(majority_vote([v for _j, v in none_votes]))], none_votes)
    assert (c.step, c.error_type, c.n_located_votes) == (None, None, 0)
    assert "no locator located the error" in c.rationale and "agree" not in c.rationale
    assert len(c.disagreements) == 2
    empty = combine([Locator("degenerate:no-answer", None, "Degenerate", "empty output", "no-answer")])
    assert (empty.step, empty.error_type, empty.subtype) == (None, "Degenerate", "no-answer")
    # the hook for the fp-divergence locator: it locates, names no type
    div = combine([Locator("divergence", 2, None, "fp would not write it"), sym])
    assert (div.step, div.error_type, div.located_by) == (2, None, "divergence")


def test_majority_counts_only_votes_that_locate():
    from qmr_core.diagnose.judge import majority_vote

    m = majority_vote([_vote(None), _vote(None), _vote(2, "Method"), _vote(2, "Execution"), _vote(1, "Method")])
    assert (m.first_error_step, m.n_votes, m.n_located, m.n_agree) == (2, 5, 3, 2)
    assert m.error_type == "Method" and m.type_tied  # a tie on type: the first vote's (judge order), flagged
    assert majority_vote([_vote(1), _vote(0)]).first_error_step == 0  # a tie on step: the earliest


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
    # every subtype is kept, each at its own step
    both = findings("x", steps, spans, "length", None)
    assert [(f.kind, f.first_error_step) for f in both] == [("repetition", 2), ("truncation", 3)]
    # a loop at the end of the text begins at its first repeat, not at its first copy
    looped = "Step 1: 5 + 5 = 10.\nStep 2: so so so so so so so so so so so so so so so so"
    start, _period = periodic_tail(looped)
    assert looped[start:].lstrip().startswith("so so") and start > looped.index("so")


def test_answer_reached_then_abandoned():
    problem = "Tom has 3 bags of 8 apples. How many apples?"
    steps = ["Step 1: 3 * 8 = 24.", "Step 2: Wait, maybe he ate 4, so 24 - 4 = 20.", "The answer is \\boxed{20}."]
    gone = findings("", steps, [(0, 19), (20, 60), (61, 90)], "eos", "20", "boxed", gold="24", problem=problem)
    assert [(f.kind, f.first_error_step) for f in gone] == [("abandoned", 1)]
    assert "derives 24 (the gold answer)" in gone[0].rationale
    # the base model's answer counts too
    base = findings("", ["Step 1: 3 + 5 = 8.", "Step 2: 8 + 1 = 9."], [(0, 18), (19, 37)], "eos", "9", "boxed",
                    gold="16", base_answer="8", problem="Add three and five.")
    assert [(f.kind, f.first_error_step) for f in base] == [("abandoned", 1)] and "base model" in base[0].rationale
    # a value the problem states is not "derived"; the last step is not mid-trace; a right final answer is kept
    assert findings("", ["Step 1: x = 12.", "Step 2: 12 / 2 = 6."], [(0, 15), (16, 35)], "eos", "6", "boxed",
                    gold="12", problem="There are 12 eggs.") == []
    assert findings("", ["Step 1: 2 + 2 = 5.", "Step 2: 2 + 2 = 4."], [(0, 18), (19, 37)], "eos", "5", "boxed",
                    gold="4", problem="p") == []
    assert findings("", steps, [(0, 19), (20, 60), (61, 90)], "eos", "24", "boxed", gold="24", problem=problem) == []
