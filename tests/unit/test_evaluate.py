from qmr_core.benchmarks.registry import load_benchmark, select
from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.generate.evaluate import execute_run, make_run_id, plan_run, register_model, start_run, store_problems
from qmr_core.models.registry import resolve_model
from qmr_core.benchmarks.prompts import PLAIN, STEPS
from qmr_core.store import Store

KEY = {"engine": "hf", "dtype": "float32"}


def test_eval_stores_graded_samples_and_resumes(tiny_model, tmp_path):
    store = Store(tmp_path / "e.duckdb")
    ref = resolve_model(str(tiny_model))
    problems = select(load_benchmark("sample"), limit=5)
    store_problems(store, problems)
    dec = Decoding(max_new_tokens=10)
    plan = plan_run(store, ref, "sample", problems, STEPS, dec, KEY)
    assert len(plan.pending) == 5
    engine = HFEngine(ref, device="cpu")
    register_model(store, ref)
    start_run(store, plan, engine.describe())
    seen = []
    stats = execute_run(store, plan, engine, batch_size=2, on_batch=lambda s: seen.append(s.done))
    assert seen == [2, 4, 5] and stats.done == 5 and stats.tokens > 0
    rows = store.query_dicts("SELECT * FROM samples WHERE run_id = ?", [plan.run_id])
    assert len(rows) == 5
    for r in rows:
        assert r["grader_version"] and r["grade_rule"] and r["finish_reason"] in ("eos", "length")
        assert r["prompt"].count("<|im_start|>user") == 2  # one demonstration + the problem
        n_steps = store.query(
            "SELECT count(*) FROM steps WHERE run_id = ? AND problem_id = ?", [plan.run_id, r["problem_id"]]
        )[0][0]
        assert n_steps == r["n_steps"]
    again = plan_run(store, ref, "sample", problems, STEPS, dec, KEY)
    assert again.run_id == plan.run_id and again.pending == []
    more = select(load_benchmark("sample"), limit=7)
    assert len(plan_run(store, ref, "sample", more, STEPS, dec, KEY).pending) == 2  # a larger --limit extends


def test_run_identity():
    dec = Decoding(max_new_tokens=10)
    base = make_run_id("m", "sample", STEPS, dec, KEY)
    assert base == make_run_id("m", "sample", STEPS, Decoding(max_new_tokens=10, seed=5), KEY)  # seed: greedy ignores it
    assert base != make_run_id("m", "sample", PLAIN, dec, KEY)
    assert base != make_run_id("m", "sample", STEPS, Decoding(max_new_tokens=11), KEY)
    assert base != make_run_id("m@rtn-w4g64", "sample", STEPS, dec, KEY)
    assert base != make_run_id("m", "sample", STEPS, dec, {"engine": "hf", "dtype": "bfloat16"})
    sampled = Decoding(max_new_tokens=10, temperature=0.6, top_p=0.95, n_samples=4)
    assert make_run_id("m", "s", STEPS, sampled, KEY) != make_run_id("m", "s", STEPS, Decoding(10, 0.6, 0.95, 4, seed=1), KEY)


def test_sampling_mode_stores_every_sample(tiny_model, tmp_path):
    store = Store(tmp_path / "e.duckdb")
    ref = resolve_model(str(tiny_model))
    problems = select(load_benchmark("sample"), limit=2)
    store_problems(store, problems)
    dec = Decoding(max_new_tokens=6, temperature=0.8, top_p=0.95, n_samples=3, seed=1)
    plan = plan_run(store, ref, "sample", problems, STEPS, dec, KEY)
    assert len(plan.pending) == 6
    start_run(store, plan, {})
    execute_run(store, plan, HFEngine(ref, device="cpu"), batch_size=4)
    assert store.query("SELECT count(*), count(DISTINCT sample_idx) FROM samples")[0] == (6, 3)
