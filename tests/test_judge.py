"""LLM judge: prompt content, verdict parsing (every malformed form), majority vote, judge specs."""

import pytest

from qmr_core.diagnose.judge import (
    JudgeCase, JudgeVerdict, LLMJudge, build_prompt, majority_vote, parse_judge_spec, parse_verdict,
)
from qmr_core.diagnose.taxonomy import ERROR_TYPES, capability_of, normalize_type
from qmr_core.errors import QmrError

GOOD = '{"first_error_step": 2, "error_type": "Execution", "rationale": "7 x 6 is 42, not 48."}'


def test_well_formed_verdict():
    v = parse_verdict(GOOD, n_steps=4)
    assert v.parsed and v.error is None
    assert v.first_error_step == 1  # 1-based in the prompt, 0-based in the store
    assert v.error_type == "Execution" and v.rationale.startswith("7 x 6")
    assert not v.fenced


def test_whitespace_case_and_no_error_forms():
    assert parse_verdict("\n  " + GOOD.replace("Execution", "execution") + "  \n", 4).error_type == "Execution"
    none = parse_verdict('{"first_error_step": -1, "error_type": null, "rationale": "all steps hold"}', 4)
    assert none.parsed and none.first_error_step is None and none.error_type is None
    assert parse_verdict('{"first_error_step": null, "error_type": "None"}', 4).parsed
    assert parse_verdict('{"first_error_step": 1, "error_type": "Degenerate"}', 1).rationale == ""


def test_code_fence_around_the_only_object_is_read_and_recorded():
    v = parse_verdict("```json\n" + GOOD + "\n```", 4)
    assert v.parsed and v.fenced and v.first_error_step == 1
    assert parse_verdict("```\n" + GOOD + "\n```", 4).parsed


@pytest.mark.parametrize(
    "raw,reason",
    [
        (None, "empty"),
        ("", "empty"),
        ("   \n ", "empty"),
        ("The first error is in step 2, an execution error.", "no-json"),
        ('Here is my verdict: {"first_error_step": 2, "error_type": "Execution"}', "text-before-json"),
        ('{"first_error_step": 2, "error_type": "Execution",}', "bad-json"),
        ("{'first_error_step': 2, 'error_type': 'Execution'}", "bad-json"),
        ('{"first_error_step": 2, "error_type": "Execution"', "bad-json"),
        (GOOD + " I hope this helps.", "trailing-text"),
        (GOOD + "\n" + GOOD, "trailing-text"),
        ("```json\n" + GOOD + "\n```\nExplanation: ...", "trailing-text"),
        ("```json\n" + GOOD, "unclosed-fence"),
        ("```json\nnot json\n```", "no-json"),
        ("```json\n{broken\n```", "bad-json"),
        ('[{"first_error_step": 2, "error_type": "Execution"}]', "not-an-object"),
        ('"just a string"', "not-an-object"),
        ('{"error_type": "Execution", "rationale": "x"}', "missing-field"),
        ('{"first_error_step": 2, "rationale": "x"}', "missing-field"),
        ('{"first_error_step": 0, "error_type": "Execution"}', "step-out-of-range"),
        ('{"first_error_step": 5, "error_type": "Execution"}', "step-out-of-range"),
        ('{"first_error_step": -3, "error_type": "Execution"}', "step-out-of-range"),
        ('{"first_error_step": "2", "error_type": "Execution"}', "bad-step"),
        ('{"first_error_step": 2.5, "error_type": "Execution"}', "bad-step"),
        ('{"first_error_step": true, "error_type": "Execution"}', "bad-step"),
        ('{"first_error_step": 2, "error_type": "Arithmetic"}', "unknown-type"),
        ('{"first_error_step": 2, "error_type": 3}', "unknown-type"),
        ('{"first_error_step": -1, "error_type": "Sloppy"}', "unknown-type"),
        ('{"first_error_step": 2, "error_type": "Method", "rationale": ["a", "b"]}', "bad-rationale"),
        ("[" * 100_000, "bad-json"),
        ("{" * 100_000, "bad-json"),
    ],
)
def test_malformed_output_is_unparsed_with_its_reason(raw, reason):
    v = parse_verdict(raw, n_steps=4)
    assert not v.parsed
    assert v.error == reason
    assert v.first_error_step is None and v.error_type is None


def test_majority_vote():
    ex2 = JudgeVerdict(True, None, 1, "Execution", "")
    me2 = JudgeVerdict(True, None, 1, "Method", "")
    co0 = JudgeVerdict(True, None, 0, "Conceptual", "")
    bad = JudgeVerdict(False, "bad-json", None, None, None)
    m = majority_vote([ex2, ex2, co0, bad])
    assert (m.first_error_step, m.error_type, m.n_votes) == (1, "Execution", 3)
    assert m.agreement == pytest.approx(2 / 3)
    tie = majority_vote([ex2, co0])  # tie on the step: the earliest wins
    assert (tie.first_error_step, tie.error_type) == (0, "Conceptual")
    type_tie = majority_vote([ex2, me2])  # tie on the type: taxonomy order
    assert type_tie.error_type == "Method"
    assert majority_vote([bad, bad]) is None
    none = majority_vote([JudgeVerdict(True, None, None, None, ""), JudgeVerdict(True, None, None, None, ""), ex2])
    assert none.first_error_step is None


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
    for part in ("7 rows of 6 eggs", "Correct final answer: 42", "Reference solution:", "Step 1: 7 * 6 = 42.",
                 "its final answer is correct", "[1] Step 1: There are 7 rows of 6.", "[2] Step 2: 7 * 6 = 48.",
                 '"first_error_step"', '"error_type"', '"rationale"'):
        assert part in prompt, part
    for name, t in ERROR_TYPES.items():
        assert f"- {name}: {t.definition}" in prompt
    assert "-1" not in prompt  # a failing trace: "no error" is not offered as the expected answer
    open_case = build_prompt(JudgeCase(problem="p", steps=["a"], known_wrong=False))
    assert '"first_error_step": -1' in open_case and "Correct final answer" not in open_case


def test_prompt_bounds_long_inputs():
    case = JudgeCase(problem="p" * 50_000, steps=["s" * 5000] * 500, gold="1", base_trace="b" * 50_000)
    prompt = build_prompt(case)
    assert len(prompt) < 60_000
    assert "440 more steps not shown" in prompt


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


def test_llm_judge_runs_on_the_tiny_model_and_never_crashes(tiny_model):
    """A random model writes garbage: every reply is kept raw and comes back unparsed, not an exception."""
    judge = LLMJudge(parse_judge_spec(f"hf:{tiny_model}"), device="cpu", max_new_tokens=12)
    cases = [JudgeCase(problem="What is 2 + 3?", steps=["Step 1: 2 + 3 = 6."], gold="5"),
             JudgeCase(problem="What is 4 * 5?", steps=["Step 1: 4 * 5 = 21.", "Step 2: so 21."], gold="20")]
    out = judge.judge(cases, batch_size=2)
    assert len(out) == 2
    for raw, verdict, latency in out:
        assert isinstance(raw, str) and latency >= 0
        assert verdict == parse_verdict(raw, 2) or verdict == parse_verdict(raw, 1)
