"""LLM judge: prompt content, verdict parsing (every malformed form), majority vote, judge specs."""

import pytest

from qmr_core.diagnose.judge import (
    JudgeCase, JudgeSettings, JudgeVerdict, LLMJudge, build_prompt, majority_vote, parse_judge_spec, parse_judge_specs,
    parse_verdict,
)
from qmr_core.diagnose.judge_protocol import PARSE_ERRORS, verdict_schema
from qmr_core.diagnose.taxonomy import ERROR_TYPES, capability_of, normalize_type
from qmr_core.errors import QmrError

GOOD = '{"first_error_step": 1, "error_type": "Execution", "rationale": "7 x 6 is 42, not 48."}'


def test_well_formed_verdict():
    v = parse_verdict(GOOD, n_steps=4)
    assert v.parsed and v.error is None and v.form == "json"
    assert v.first_error_step == 1  # 0-based, as ProcessBench indexes paragraphs
    assert v.error_type == "Execution" and v.rationale.startswith("7 x 6")


def test_verdict_is_read_from_the_end_after_reasoning():
    reasoning = "Paragraph 0 is fine. Paragraph 1 says 7 x 6 = 48 {which is wrong}. So:\n"
    v = parse_verdict(reasoning + GOOD, 4)
    assert v.parsed and v.first_error_step == 1
    fenced = parse_verdict(reasoning + "```json\n" + GOOD + "\n```\nThat is my verdict.", 4)
    assert fenced.parsed and fenced.first_error_step == 1
    # an earlier object in the reasoning does not count: the last verdict does
    two = parse_verdict('{"first_error_step": 0, "error_type": "Method"} on second thought ' + GOOD, 4)
    assert (two.first_error_step, two.error_type) == (1, "Execution")
    # ProcessBench's form: the index in \\boxed{}, no type; the later of box and object wins
    boxed = parse_verdict("The earliest error is in paragraph 2.\n\\boxed{2}", 4)
    assert (boxed.parsed, boxed.first_error_step, boxed.error_type, boxed.form) == (True, 2, None, "boxed")
    assert parse_verdict("All paragraphs are correct. \\boxed{-1}", 4).first_error_step is None
    assert parse_verdict(GOOD + " so the answer is \\boxed{3}", 4).first_error_step == 3
    assert parse_verdict("\\boxed{3} ... final: " + GOOD, 4).first_error_step == 1


def test_reasoning_blocks_are_stripped():
    think = "<think>Maybe paragraph 0? {\"first_error_step\": 0, \"error_type\": \"Method\"}</think>\n"
    v = parse_verdict(think + GOOD, 4)
    assert v.parsed and v.first_error_step == 1
    # only the block's end is in the reply (the template opened it)
    assert parse_verdict("I check each one... \\boxed{0}</think>\n" + GOOD, 4).first_error_step == 1
    assert parse_verdict("<think>" + "long reasoning " * 100 + "\\boxed{1}", 4).error == "unfinished-think"
    # a server's reasoning_content comes back as a <think> block (completion_text): the same rule
    from qmr_core.engines.openai_http import completion_text

    msg = {"content": GOOD, "reasoning_content": 'it could be {"first_error_step": 3, "error_type": "Method"}'}
    assert parse_verdict(completion_text(msg), 4).first_error_step == 1


def test_whitespace_case_and_no_error_forms():
    assert parse_verdict("\n  " + GOOD.replace("Execution", "execution") + "  \n", 4).error_type == "Execution"
    none = parse_verdict('{"first_error_step": -1, "error_type": null, "rationale": "all steps hold"}', 4)
    assert none.parsed and none.first_error_step is None and none.error_type is None
    assert parse_verdict('{"first_error_step": null, "error_type": "None"}', 4).parsed
    assert parse_verdict('{"first_error_step": "2", "error_type": "Method"}', 4).first_error_step == 2
    constrained = '{"reasoning":"2 + 2 is not 5","first_error_step":0,"error_type":"Execution"}'
    raw_newline = parse_verdict('{"reasoning":"loops.\n\n","first_error_step":1,"error_type":"Conceptual"}', 2)
    assert raw_newline.parsed and raw_newline.first_error_step == 1  # as SmolLM2 (GGUF) decodes a constrained reply
    v = parse_verdict(constrained, 1)
    assert v.parsed and v.rationale == "2 + 2 is not 5" and v.error_type == "Execution"


@pytest.mark.parametrize(
    "raw,reason",
    [
        (None, "empty"),
        ("", "empty"),
        ("   \n ", "empty"),
        ("The first error is in step 2, an execution error.", "no-verdict"),
        ('{"first_error_step": 2, "error_type": "Execution",}', "no-verdict"),
        ("{'first_error_step': 2, 'error_type': 'Execution'}", "no-verdict"),
        ('{"first_error_step": 2, "error_type": "Execution"', "no-verdict"),
        ('{"error_type": "Execution", "rationale": "x"}', "no-verdict"),
        ("\\boxed{two}", "bad-step"),
        ('{"first_error_step": 4, "error_type": "Execution"}', "step-out-of-range"),
        ('{"first_error_step": -3, "error_type": "Execution"}', "step-out-of-range"),
        ("\\boxed{9}", "step-out-of-range"),
        ('{"first_error_step": 2.5, "error_type": "Execution"}', "bad-step"),
        ('{"first_error_step": true, "error_type": "Execution"}', "bad-step"),
        ('{"first_error_step": [1], "error_type": "Execution"}', "bad-step"),
        ('{"first_error_step": 2, "error_type": "Arithmetic"}', "unknown-type"),
        ('{"first_error_step": 2, "error_type": 3}', "unknown-type"),
        ('{"first_error_step": 2, "error_type": "Method", "rationale": ["a", "b"]}', "bad-rationale"),
        ("<think>never closed " + GOOD, "unfinished-think"),
        ("[" * 100_000, "no-verdict"),
        ("{" * 100_000, "no-verdict"),
        ('{"first_error_step": 1}' + "{" * 100_000, "no-verdict"),  # only the tail is searched, boundedly
    ],
)
def test_malformed_output_is_unparsed_with_its_reason(raw, reason):
    v = parse_verdict(raw, n_steps=4)
    assert not v.parsed
    assert v.error == reason and reason in PARSE_ERRORS
    assert v.first_error_step is None and v.error_type is None


def test_schema_bounds_the_step():
    schema = verdict_schema(3)
    step = schema["properties"]["first_error_step"]
    assert (step["minimum"], step["maximum"]) == (-1, 2)
    assert list(schema["properties"]) == ["reasoning", "first_error_step", "error_type"]  # reasoning first
    assert schema["properties"]["error_type"]["enum"] == list(ERROR_TYPES)


def test_majority_vote():
    ex2 = JudgeVerdict(True, None, 1, "Execution", "")
    me2 = JudgeVerdict(True, None, 1, "Method", "")
    co0 = JudgeVerdict(True, None, 0, "Conceptual", "")
    bad = JudgeVerdict(False, "no-verdict", None, None, None)
    m = majority_vote([ex2, ex2, co0, bad])
    assert (m.first_error_step, m.error_type, m.n_votes, m.n_located, m.n_agree) == (1, "Execution", 3, 3, 2)
    assert m.agreement == pytest.approx(2 / 3)
    tie = majority_vote([ex2, co0])  # tie on the step: the earliest wins
    assert (tie.first_error_step, tie.error_type) == (0, "Conceptual")
    type_tie = majority_vote([ex2, me2])  # tie on the type: the first vote's, flagged (not the taxonomy's order)
    assert (type_tie.error_type, type_tie.type_tied) == ("Execution", True)
    assert majority_vote([me2, ex2]).error_type == "Method"
    assert majority_vote([bad, bad]) is None
    none = majority_vote([JudgeVerdict(True, None, None, None, ""), JudgeVerdict(True, None, None, None, "")])
    assert none.first_error_step is None and none.n_located == 0 and none.agreement is None
    assert "none of 2" in none.describe()


def test_prompt_holds_everything_the_judge_needs():
    case = JudgeCase(
        problem="A box has 7 rows of 6 eggs. How many eggs?",
        steps=["Step 1: There are 7 rows of 6.", "Step 2: 7 * 6 = 48."],
        gold="42",
        reference="7 * 6 = 42",
        base_trace="Step 1: 7 * 6 = 42.",
        base_correct=True,
    )
    prompt = build_prompt(case)
    for part in ("7 rows of 6 eggs", "[Correct final answer]", "[Reference solution]", "Step 1: 7 * 6 = 42.",
                 "its final answer is correct", "<paragraph_0>\nStep 1: There are 7 rows of 6.\n</paragraph_0>",
                 "<paragraph_1>\nStep 2: 7 * 6 = 48.\n</paragraph_1>", "indexed from 0", "final answer is wrong",
                 '"first_error_step"', '"error_type"', "You may reason first", "\\boxed{}", "-1"):
        assert part in prompt, part
    for name, t in ERROR_TYPES.items():
        assert f"- {name}: {t.definition}" in prompt
    open_case = build_prompt(JudgeCase(problem="p", steps=["a"], known_wrong=False))
    assert "may be right or wrong" in open_case and "Correct final answer" not in open_case
    constrained = build_prompt(case, constrained=True)
    assert '"reasoning"' in constrained and "You may reason first" not in constrained


def test_prompt_bounds_long_inputs():
    case = JudgeCase(problem="p" * 50_000, steps=["s" * 5000] * 500, gold="1", base_trace="b" * 50_000)
    prompt = build_prompt(case)
    assert len(prompt) < 60_000
    assert "440 more paragraphs not shown" in prompt


def test_taxonomy_roll_up():
    assert capability_of("Execution") == "numerical computation"
    assert capability_of("Method") == capability_of("Reasoning") == "reasoning planning"
    assert capability_of("Conceptual") == "problem understanding"
    assert capability_of("Degenerate") == "degenerate output"
    assert capability_of(None) is None
    with pytest.raises(QmrError):
        capability_of("Sloppy")
    assert normalize_type(" execution error ") == "Execution" and normalize_type("calc") is None


def test_judge_specs():
    assert parse_judge_spec("symbolic").is_symbolic
    spec = parse_judge_spec("hf:smollm2-135m")
    assert (spec.engine, spec.model) == ("hf", "smollm2-135m")
    assert parse_judge_spec("hf:Qwen/Qwen2.5-7B-Instruct").model == "Qwen/Qwen2.5-7B-Instruct"
    for bad in ("gpt4", "hf:", "openai-ish:model", ":model"):
        with pytest.raises(QmrError):
            parse_judge_spec(bad)
    with pytest.raises(QmrError):
        LLMJudge(parse_judge_spec("symbolic"))


def test_judges_named_twice_and_bad_settings_are_errors():
    assert [s.spec for s in parse_judge_specs(["symbolic", "hf:a", "hf:b"])] == ["symbolic", "hf:a", "hf:b"]
    with pytest.raises(QmrError, match="listed twice.*--judge-samples"):
        parse_judge_specs(["hf:a", "symbolic", "hf:a"])
    for bad in (dict(samples=0), dict(max_new_tokens=0), dict(temperature=-1.0), dict(samples=4, temperature=0.0)):
        with pytest.raises(QmrError):
            JudgeSettings(**bad)
    assert JudgeSettings().resolved_temperature() == 0.0
    assert JudgeSettings(samples=8).resolved_temperature() == 0.7


def test_constrained_local_judge_always_returns_a_verdict(tiny_model):
    """A random model writes noise; under the schema every vote is still a parsed, in-range verdict."""
    judge = LLMJudge(parse_judge_spec(f"hf:{tiny_model}"), device="cpu", settings=JudgeSettings(samples=3))
    assert judge.constrained and judge.protocol()["temperature"] == 0.7
    cases = [JudgeCase(problem="What is 2 + 3?", steps=["Step 1: 2 + 3 = 6."], gold="5"),
             JudgeCase(problem="What is 4 * 5?", steps=["Step 1: 4 * 5 = 21.", "Step 2: so 21.", "Done."], gold="20")]
    out = judge.judge_samples(cases, batch_size=2)
    assert [len(votes) for votes in out] == [3, 3]
    for case, votes in zip(cases, out, strict=True):
        for raw, verdict, latency in votes:
            assert verdict.parsed, raw
            assert verdict == parse_verdict(raw, len(case.steps)) and latency >= 0
            assert verdict.first_error_step is None or 0 <= verdict.first_error_step < len(case.steps)
            assert verdict.first_error_step is None or verdict.error_type in ERROR_TYPES
    assert len({raw for raw, _v, _ms in out[1]}) > 1  # sampled: the three votes differ


def test_unconstrained_judge_on_the_tiny_model_keeps_every_reply(tiny_model):
    """Without the schema a random model writes garbage: kept raw, unparsed with a reason, never an exception."""
    judge = LLMJudge(parse_judge_spec(f"hf:{tiny_model}"), device="cpu",
                     settings=JudgeSettings(max_new_tokens=12, constrained=False))
    out = judge.judge([JudgeCase(problem="What is 2 + 3?", steps=["Step 1: 2 + 3 = 6."], gold="5")], batch_size=2)
    raw, verdict, _ms = out[0]
    assert isinstance(raw, str) and verdict == parse_verdict(raw, 1) and not judge.constrained


def test_migration_keeps_v1_votes_as_vote_zero(tmp_path):
    """A store made before protocol v2: its votes survive the migration as vote 0 with no protocol."""
    import duckdb

    from qmr_core.store import Store
    from qmr_core.store.schema import migrations as _migrations

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT current_timestamp)")
    for version, sql in _migrations():
        if version < 8:
            con.execute(sql)
            con.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
    con.execute("INSERT INTO judge_votes (run_id, problem_id, sample_idx, judge, prompt_version, raw_output, parsed, "
                "parse_error) VALUES ('r', 'p', 0, 'hf:x', 'judge-v1', 'garbage', false, 'no-json')")
    con.close()
    store = Store(path)
    row = store.query_dicts("SELECT * FROM judge_votes")[0]
    assert (row["vote_idx"], row["prompt_version"], row["protocol_json"], row["raw_output"]) == (0, "judge-v1", None, "garbage")
    store.upsert("judge_votes", [{**row, "vote_idx": 1}])
    assert store.query("SELECT count(*) FROM judge_votes")[0][0] == 2  # a second vote of one judge is its own row
    assert {"subtype", "located_by"} <= {r[0] for r in store.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'diagnoses'")}
