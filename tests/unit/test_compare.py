"""Pairing runs on a hand-built store, degradation numbers, breakdowns, step alignment."""

import time

import pytest

from qmr_core.compare import (
    align_steps, bootstrap_ci, compare_runs, infer_base_run, mcnemar_exact, relative_degradation, step_signature,
)
from qmr_core.errors import QmrError
from qmr_core.store import Store
from tests.helpers.toy_store import BASE_OK, QUANT_BAD, add_problem, add_run, add_sample



@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "c.duckdb")
    add_run(s, "base00000001", "m")
    add_run(s, "quant0000001", "m@rtn-w3g64", base_model_id="m")
    # p1 lost, p2 gained, p3 both right, p4 both wrong, p5 lost, p6 only in base
    spec = {"p1": ("algebra", 1, True, False), "p2": ("algebra", 2, False, True), "p3": ("geometry", 1, True, True),
            "p4": ("geometry", 2, False, False), "p5": ("algebra", 1, True, False)}
    for pid, (subject, level, b, q) in spec.items():
        add_problem(s, pid, subject, level)
        add_sample(s, "base00000001", pid, b, BASE_OK)
        add_sample(s, "quant0000001", pid, q, QUANT_BAD if pid in ("p1", "p5") else BASE_OK)
    add_problem(s, "p6", "algebra", 3)
    add_sample(s, "base00000001", "p6", True, BASE_OK)
    return s


def test_outcomes_accuracy_and_degradation(store):
    s = compare_runs(store, "base00000001", "quant0000001")
    assert s.counts == {"lost": 2, "gained": 1, "both_right": 1, "both_wrong": 1}
    assert s.n == 5 and s.n_base_only == 1 and s.n_quant_only == 0
    assert s.acc_base == pytest.approx(3 / 5) and s.acc_quant == pytest.approx(2 / 5)
    assert s.abs_drop == pytest.approx(1 / 5)
    assert s.rel_drop == pytest.approx((3 / 5 - 2 / 5) / (3 / 5))
    assert s.mcnemar_p == pytest.approx(1.0)  # 2 lost vs 1 gained: no evidence
    assert sorted(s.lost) == ["p1", "p5"]
    assert s.warnings == [] and not s.sampling
    low, high = s.abs_drop_ci
    assert low <= s.abs_drop <= high


def test_breakdown_by_subject_and_level(store):
    s = compare_runs(store, "base00000001", "quant0000001", write=False)
    algebra = next(g for g in s.by_subject if g.key == "algebra")
    assert (algebra.n, algebra.lost, algebra.gained) == (3, 2, 1)
    assert algebra.acc_base == pytest.approx(2 / 3) and algebra.acc_quant == pytest.approx(1 / 3)
    assert algebra.rel_drop == pytest.approx(0.5)
    level1 = next(g for g in s.by_level if g.key == "1")
    assert (level1.n, level1.lost) == (3, 2)
    assert [g.key for g in s.by_level] == ["1", "2"]


def test_pairs_and_alignments_are_written_and_rewritten(store):
    compare_runs(store, "base00000001", "quant0000001")
    rows = dict(store.query("SELECT problem_id, outcome FROM pairs ORDER BY 1"))
    assert rows == {"p1": "lost", "p2": "gained", "p3": "both_right", "p4": "both_wrong", "p5": "lost"}
    lost = store.query_dicts("SELECT * FROM pairs WHERE problem_id = 'p1'")[0]
    assert lost["first_divergent_step"] == 1 and lost["similarity"] < 1.0
    assert (lost["base_score"], lost["quant_score"], lost["n_base_steps"], lost["n_quant_steps"]) == (1.0, 0.0, 2, 2)
    same = store.query_dicts("SELECT * FROM pairs WHERE problem_id = 'p3'")[0]
    assert same["first_divergent_step"] is None and same["similarity"] == 1.0
    steps = store.query("SELECT pos, base_step_idx, quant_step_idx, numbers_equal FROM step_alignments WHERE problem_id = 'p1' ORDER BY pos")
    assert steps == [(0, 0, 0, True), (1, 1, 1, False)]  # the answer line belongs to step 2
    compare_runs(store, "base00000001", "quant0000001")  # idempotent
    assert store.query("SELECT count(*) FROM pairs")[0][0] == 5
    assert store.query("SELECT count(*) FROM comparisons")[0][0] == 1


def test_base_inference_and_bad_input(store):
    assert infer_base_run(store, "quant0000001") == "base00000001"
    assert infer_base_run(store, "base00000001") is None
    with pytest.raises(QmrError):
        compare_runs(store, "base00000001", "base00000001")
    add_run(store, "other0000001", "z")
    with pytest.raises(QmrError, match="share no problems"):
        compare_runs(store, "base00000001", "other0000001")
    with pytest.raises(QmrError):
        compare_runs(store, "base00000001", "nope")


def test_comparability_warnings(store):
    add_run(store, "quant0000002", "m@rtn-w4g64", base_model_id="m", decoding='{"max_new_tokens": 128, "temperature": 0.0}')
    add_sample(store, "quant0000002", "p1", True, BASE_OK)
    s = compare_runs(store, "base00000001", "quant0000002", write=False)
    assert s.warnings == ["decoding differs in max_new_tokens: 64 vs 128"]


def test_only_output_changing_decoding_fields_warn():
    from qmr_core.comparability import decoding_differences

    greedy = '{"max_new_tokens": 256, "temperature": 0.0, "top_p": null, "seed": null, "n_samples": 1}'
    lm_eval = '{"max_new_tokens": 256, "temperature": 0.0, "top_p": null, "seed": null, "n_samples": 1, "stop": ["Question:"]}'
    warnings, notes = decoding_differences(greedy, lm_eval)
    assert warnings == [] and len(notes) == 1 and "stop" in notes[0]
    # top-p and seed do not change greedy output; they do change sampled output
    warnings, _ = decoding_differences('{"temperature": 0, "top_p": 0.9, "seed": 1}', '{"temperature": 0, "top_p": 1.0, "seed": 2}')
    assert warnings == []
    warnings, _ = decoding_differences('{"temperature": 0.6, "top_p": 0.9, "seed": 1}', '{"temperature": 0.6, "top_p": 1.0, "seed": 2}')
    assert warnings == ["decoding differs in top_p: 0.9 vs 1.0", "decoding differs in seed: 1 vs 2"]


def test_prompts_are_compared_as_rendered_not_by_template(store):
    # same rendered prompt ("p") under another template name: a note, not a warning
    store.execute("UPDATE runs SET prompt_text = 'lm-eval task gsm8k {}' WHERE run_id = 'quant0000001'")
    s = compare_runs(store, "base00000001", "quant0000001", write=False)
    assert s.warnings == [] and any("rendered prompts of all 5" in n for n in s.notes)
    # one paired problem saw another text: a warning that counts it
    store.execute("UPDATE samples SET prompt = 'other' WHERE run_id = 'quant0000001' AND problem_id = 'p2'")
    s = compare_runs(store, "base00000001", "quant0000001", write=False)
    assert s.warnings == ["the runs used different prompts on 1 of 5 paired problems: differences are not due to "
                          "quantization alone"]


def test_sampling_mode_uses_the_majority_per_problem(tmp_path):
    st = Store(tmp_path / "s.duckdb")
    add_run(st, "b", "m")
    add_run(st, "q", "m@rtn-w2g64", base_model_id="m")
    add_problem(st, "p1", "algebra", 1)
    for k, (b, q) in enumerate([(True, True), (True, False), (True, False)]):
        add_sample(st, "b", "p1", b, BASE_OK, sample_idx=k)
        add_sample(st, "q", "p1", q, QUANT_BAD, sample_idx=k)
    s = compare_runs(st, "b", "q")
    assert s.sampling and s.counts["lost"] == 1
    assert s.acc_base == 1.0 and s.acc_quant == pytest.approx(1 / 3)
    row = st.query_dicts("SELECT * FROM pairs")[0]
    assert row["n_samples"] == 3 and row["quant_score"] == pytest.approx(1 / 3)


def test_statistics_helpers():
    assert relative_degradation(0.5, 0.25) == pytest.approx(0.5)
    assert relative_degradation(0.0, 0.0) is None
    assert mcnemar_exact(0, 0) is None
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 2**10)
    assert mcnemar_exact(5, 5) == 1.0
    assert bootstrap_ci([1.0]) is None
    assert bootstrap_ci([0.0, 1.0] * 50) == bootstrap_ci([0.0, 1.0] * 50)  # seeded


# -- step alignment ----------------------------------------------------------------------------

def test_identical_traces_do_not_diverge():
    steps = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 14.", "The answer is 14."]
    a = align_steps(steps, steps)
    assert a.first_divergent is None and a.similarity == 1.0
    assert [(p.base_idx, p.quant_idx) for p in a.pairs] == [(0, 0), (1, 1), (2, 2)]


def test_a_changed_number_is_the_divergence():
    base = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 14.", "Step 3: 14 - 1 = 13."]
    quant = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 16.", "Step 3: 16 - 1 = 15."]
    a = align_steps(base, quant)
    assert a.first_divergent == 1
    assert a.pairs[1].numbers_equal is False and a.pairs[1].text_similarity == 1.0


def test_an_inserted_step_is_aligned_around():
    base = ["Step 1: The box has 4 rows.", "Step 2: Each row has 6 eggs.", "Step 3: 4 * 6 = 24 eggs in total."]
    quant = ["Step 1: The box has 4 rows.", "Step 2: Let me think about the weather today.",
             "Step 3: Each row has 6 eggs.", "Step 4: 4 * 6 = 24 eggs in total."]
    a = align_steps(base, quant)
    assert a.first_divergent == 1
    assert [(p.base_idx, p.quant_idx) for p in a.pairs] == [(0, 0), (None, 1), (1, 2), (2, 3)]
    assert a.similarity == pytest.approx(3 / 4)


def test_a_shorter_trace_diverges_where_it_stops_and_empty_traces():
    base = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 14."]
    a = align_steps(base, base[:1])
    assert a.first_divergent == 1
    assert align_steps([], []).first_divergent is None
    assert align_steps(base, []).first_divergent == 0
    assert align_steps([], base).first_divergent == 0


def test_signature_normalizes_tags_latex_and_numbers():
    a, b = step_signature("Step 3: \\(1,200 + 300 = 1500.0\\)"), step_signature("**Step 7.** 1200 + 300 = 1500")
    assert a.numbers == b.numbers
    assert "step" not in a.words


def test_long_repetitive_traces_align_quickly():
    loop = ["Step 1: 2 + 2 = 4."] * 400
    started = time.perf_counter()
    align_steps(loop, loop[:350] + ["Step 9: something else entirely"] * 50)
    assert time.perf_counter() - started < 10


def test_the_browser_shows_the_alignment_compare_stores(tmp_path):
    """One aligner: a never-compared pair is aligned in memory by compare's function (nothing written), and
    after `qmr compare` the browser reads the stored rows, which are the same."""
    from qmr_core.browse import load_trace
    from tests.helpers.tui_store import BASE, Q3, build_small_store

    small = Store(build_small_store(tmp_path / "s.duckdb"), create=False)
    problems = [r[0] for r in small.query("SELECT DISTINCT problem_id FROM samples WHERE run_id = ? ORDER BY 1", [Q3])]
    before = {p: load_trace(small, BASE, Q3, p) for p in problems}
    assert {d.alignment_source for d in before.values()} == {"qmr-browse"}
    assert small.query("SELECT count(*) FROM step_alignments")[0][0] == 0  # the browser wrote nothing
    compare_runs(small, BASE, Q3)
    for p in problems:
        after = load_trace(small, BASE, Q3, p)
        assert after.alignment_source == "qmr compare"
        assert after.rows == before[p].rows
    assert any(r.kind == "changed" for d in before.values() for r in d.rows)
