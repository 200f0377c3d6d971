"""`qmr recover`: cut construction, set building (filters, holdout, control), JSONL export, LoRA training with
trl on the tiny model (SFT and DPO), loading an adapter through --model, and evaluating it against its parent."""

import json
from importlib.util import find_spec
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from qmr_core.benchmarks.registry import Problem
from qmr_core.cli import app
from qmr_core.engines.base import Decoding
from qmr_core.errors import QmrError
from qmr_core.models.registry import resolve_model
from qmr_core.benchmarks.prompts import get_template
from qmr_core.recover.build import build_set, cut_traces
from qmr_core.benchmarks.steps import split_steps
from qmr_core.store import Store, upsert_rows

runner = CliRunner()

F = "Step 1: 4 rows of 6 eggs.\nStep 2: 4 * 6 = 24.\nStep 3: 24 - 4 = 20.\nThe answer is \\boxed{20}."
Q_STEP2 = "Step 1: 4 rows of 6 eggs.\nStep 2: 4 * 6 = 24.\nStep 3: 24 - 4 = 22.\nThe answer is \\boxed{22}."
Q_STEP1 = "Step 1: 4 rows of 6 eggs.\nStep 2: 4 * 6 = 26.\nStep 3: 26 - 4 = 22.\nThe answer is \\boxed{22}."
Q_STEP0 = "Step 1: 5 rows of 6 eggs.\nStep 2: 5 * 6 = 30.\nStep 3: 30 - 4 = 26.\nThe answer is \\boxed{26}."
PROMPT = "<|im_start|>user\nSolve it.<|im_end|>\n<|im_start|>assistant\n"


def spans(text: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_steps(text).steps]


# -- the cut -----------------------------------------------------------------------------------


def test_cut_at_the_faulty_step_when_the_prefix_is_shared():
    c = cut_traces(Q_STEP2, spans(Q_STEP2), F, 2)
    b = Q_STEP2.index("Step 3")
    assert (c.step, c.char, c.moved_back) == (2, b, False)
    assert c.prefix == F[:b] == Q_STEP2[:b]
    assert c.chosen == F[b:] and c.rejected == Q_STEP2[b:]
    assert c.prefix + c.chosen == F and c.prefix + c.rejected == Q_STEP2


def test_cut_moves_back_when_the_traces_diverged_earlier():
    c = cut_traces(Q_STEP1, spans(Q_STEP1), F, 2)  # diagnosed at step 3, but "26" already differs in step 2
    b = Q_STEP1.index("Step 2")
    assert (c.step, c.char, c.moved_back) == (1, b, True)
    assert F.startswith(c.prefix) and c.chosen == F[b:] and c.rejected == Q_STEP1[b:]


def test_cut_falls_back_to_the_start_and_clamps_the_step():
    c = cut_traces(Q_STEP0, spans(Q_STEP0), F, 3)  # differs in the first step: no shared step at all
    assert (c.step, c.char, c.prefix, c.chosen, c.rejected) == (0, 0, "", F, Q_STEP0)
    c = cut_traces(Q_STEP2, spans(Q_STEP2), F, 99)  # a step past the trace is its last step
    assert c.step == len(spans(Q_STEP2)) - 1 == 2 and c.rejected == Q_STEP2[Q_STEP2.index("Step 3"):]
    assert cut_traces("no steps here", [], "other", 0).char == 0


# -- a hand-built store ------------------------------------------------------------------------

STEPS_TEXT = get_template("steps").text()
DECODING = json.dumps(Decoding(max_new_tokens=6).as_dict(), sort_keys=True)
# problem -> (quant trace, combined verdict (step, type) or None, symbolic verdict or None)
LOST = {
    "toy/p0": (Q_STEP2, (2, "Execution"), (2, "Execution")),
    "toy/p1": (Q_STEP1, (1, "Execution"), None),
    "toy/p2": (Q_STEP1, (2, "Execution"), (None, None)),  # symbolic found nothing: combined decides
    "toy/p3": (Q_STEP2, (2, "Execution"), None),
    "toy/p4": (Q_STEP0, (0, "Reasoning"), None),
    "toy/p5": (Q_STEP2, (2, "Reasoning"), None),
    "toy/p6": (Q_STEP2, (3, "Degenerate"), None),
    "toy/p7": (Q_STEP1, None, None),  # never diagnosed: the first divergent step locates it
}


def make_store(path, source: str = "/nowhere", fp_id: str = "m") -> tuple[Store, str, str]:
    store = Store(path)
    quant_id = f"{fp_id}@rtn-w2g64"
    store.upsert("models", [{"model_id": fp_id, "name": fp_id, "source": source, "method": "none", "base_model_id": None},
                            {"model_id": quant_id, "name": quant_id, "source": source, "method": "rtn",
                             "base_model_id": fp_id}])
    store.upsert("runs", [{"run_id": run_id, "model_id": model, "benchmark": "toy", "prompt_template": "steps",
                           "prompt_text": STEPS_TEXT, "decoding_json": DECODING, "engine": "hf",
                           "engine_json": json.dumps({"dtype": "float32"}), "status": "done"}
                          for run_id, model in (("base00000000", fp_id), ("quant0000000", quant_id))])
    plan = dict.fromkeys(LOST, (False, True)) | {"toy/p8": (True, True), "toy/p9": (True, False)}
    problems, samples, steps = [], [], []
    for i, (pid, (q_right, b_right)) in enumerate(sorted(plan.items())):
        p = Problem(pid, "toy", pid, f"What is {i} + 1?", str(i + 1), subject="algebra", level=1)
        problems.append(p.as_row() | {"content_hash": p.content_hash()})
        q_text = LOST[pid][0] if pid in LOST else F
        for run_id, right, text in (("base00000000", b_right, F), ("quant0000000", q_right, q_text)):
            split = split_steps(text)
            samples.append({"run_id": run_id, "problem_id": pid, "sample_idx": 0, "prompt": PROMPT, "output": text,
                            "correct": right, "n_steps": len(split.steps), "finish_reason": "eos"})
            steps += [{"run_id": run_id, "problem_id": pid, "sample_idx": 0, "step_idx": x.idx, "text": x.text,
                       "span_start": x.start, "span_end": x.end} for x in split.steps]
    diagnoses = []
    for pid, (_q, combined, symbolic) in LOST.items():
        for judge, verdict in (("combined", combined), ("symbolic", symbolic)):
            if verdict is not None:
                diagnoses.append({"run_id": "quant0000000", "problem_id": pid, "sample_idx": 0, "judge": judge,
                                  "first_error_step": verdict[0], "error_type": verdict[1]})
    with store.transaction() as con:
        for table, rows in (("problems", problems), ("samples", samples), ("steps", steps), ("diagnoses", diagnoses)):
            upsert_rows(con, table, rows)
    return store, "base00000000", "quant0000000"


@pytest.fixture
def toy(tmp_path):
    return make_store(tmp_path / "r.duckdb")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_build_splits_holdout_and_writes_set(toy, tmp_path):
    store, base, quant = toy
    rep = build_set(store, quant, base, judge="symbolic", holdout=0.25, seed=0, out_dir=tmp_path / "out")
    assert rep.n_lost == 8 and not rep.skipped
    assert store.query("SELECT count(*) FROM pairs WHERE quant_run_id = ?", [quant])[0][0] == 10  # compared on the way
    train = sorted(r["problem_id"] for r in rep.targeted)
    assert len(rep.holdout) == 2 and len(train) == 6 and not set(train) & set(rep.holdout)
    assert sorted(train + rep.holdout) == sorted(LOST)
    assert rep.located_by == {"symbolic": 1, "combined": 6, "divergence": 1}
    by_pid = {r["problem_id"]: r for r in rep.targeted}
    if "toy/p7" in by_pid:
        assert by_pid["toy/p7"]["error_step"] == 1 and by_pid["toy/p7"]["error_type"] is None
    row = store.query_dicts("SELECT * FROM recovery_sets")[0]
    # the control set: one per training problem, never a copy of the targeted cut; where the traces part in
    # their first step (Q_STEP0) the cut is a later step of the full-precision trace
    n_control = 6
    assert (row["n_targeted"], row["n_control"], row["judge"], row["seed"]) == (6, n_control, "symbolic", 0)
    assert json.loads(row["holdout_json"]) == rep.holdout
    stored = store.query("SELECT kind, count(*) FROM recovery_examples GROUP BY 1 ORDER BY 1")
    assert stored == [("control", n_control), ("targeted", 6)]
    assert sorted(r["problem_id"] for r in rep.control) == train
    for r in rep.control:
        q = LOST[r["problem_id"]][0]
        if q == Q_STEP0:
            b = spans(F)[r["cut_step"]][0]
            assert r["cut_in"] == "full_precision" and r["cut_step"] >= 1 and r["cut_char"] == b
            assert r["prompt"] == PROMPT + F[:b] and r["chosen"] == F[b:] and r["rejected"] == q[spans(q)[r["cut_step"]][0]:]
            continue
        c = cut_traces(q, spans(q), F, r["cut_step"])
        assert r["cut_in"] == "shared" and r["prompt"] == PROMPT + c.prefix and r["chosen"] == c.chosen
        assert r["rejected"] == c.rejected
        assert not c.moved_back and r["cut_step"] != by_pid[r["problem_id"]]["cut_step"]  # never a copy of the targeted cut
    again = build_set(store, quant, base, judge="symbolic", holdout=0.25, seed=0, out_dir=tmp_path / "out")
    assert again.set_id == rep.set_id and again.holdout == rep.holdout and again.control == rep.control
    assert store.query("SELECT count(*) FROM recovery_examples")[0][0] == 6 + n_control  # rebuilt, not duplicated
    seeds = {tuple(build_set(store, quant, base, seed=s, out_dir=tmp_path / f"o{s}").holdout) for s in range(6)}
    assert len(seeds) > 1  # the seed decides the holdout


def test_targeted_examples_are_cut_at_the_faulty_step(toy, tmp_path):
    store, base, quant = toy
    rep = build_set(store, quant, base, holdout=0.0, out_dir=tmp_path / "out")
    ex = {r["problem_id"]: r for r in rep.targeted}
    assert ex["toy/p0"]["cut_step"] == 2 and ex["toy/p0"]["prompt"] == PROMPT + Q_STEP2[: Q_STEP2.index("Step 3")]
    assert ex["toy/p2"]["error_step"] == 2 and ex["toy/p2"]["cut_step"] == 1  # diverged at step 2 already
    assert ex["toy/p4"]["cut_char"] == 0 and ex["toy/p4"]["prompt"] == PROMPT
    assert ex["toy/p6"]["cut_step"] == 2 and ex["toy/p6"]["rejected"] == Q_STEP2[Q_STEP2.index("Step 3"):]
    assert rep.moved_back == 1


def test_error_type_filter_and_bad_types(toy, tmp_path):
    store, base, quant = toy
    rep = build_set(store, quant, base, error_types=["EXECUTION", "reasoning error"], holdout=0.0, out_dir=tmp_path / "o")
    assert sorted(r["problem_id"] for r in rep.targeted) == ["toy/p0", "toy/p1", "toy/p2", "toy/p3", "toy/p4", "toy/p5"]
    assert {r["error_type"] for r in rep.targeted + rep.control} == {"Execution", "Reasoning"}
    assert rep.skipped == {"other error type": 2}
    with pytest.raises(QmrError, match="unknown error type 'arith'"):
        build_set(store, quant, base, error_types=["arith"])
    with pytest.raises(QmrError, match="none of the 8 lost problems"):
        build_set(store, quant, base, error_types=["conceptual"])
    with pytest.raises(QmrError, match="holdout"):
        build_set(store, quant, base, holdout=1.0)


def test_examples_record_whether_each_side_ended_and_sft_adds_eos_only_then(toy, tmp_path, tiny_model):
    store, base, quant = toy
    with store.transaction() as con:  # p0's full-precision trace and p3's quantized one ran into the token limit
        con.execute("UPDATE samples SET finish_reason = 'length' WHERE run_id = ? AND problem_id = 'toy/p0'", [base])
        con.execute("UPDATE samples SET finish_reason = 'length' WHERE run_id = ? AND problem_id = 'toy/p3'", [quant])
        con.execute("UPDATE samples SET finish_reason = NULL WHERE run_id = ? AND problem_id = 'toy/p1'", [quant])
    rep = build_set(store, quant, base, holdout=0.0, seed=0, out_dir=tmp_path / "set")
    rows = store.query_dicts("SELECT * FROM recovery_examples WHERE set_id = ?", [rep.set_id])
    ends = {(r["kind"], r["problem_id"]): (r["chosen_complete"], r["rejected_complete"]) for r in rows}
    assert ends[("targeted", "toy/p0")] == (False, True) and ends[("targeted", "toy/p3")] == (True, False)
    assert ends[("targeted", "toy/p1")] == (True, None)  # no finish reason recorded (an imported run): unknown
    assert ends[("targeted", "toy/p4")] == (True, True) and ends[("control", "toy/p0")] == (False, True)
    meta = {r["meta"]["problem_id"]: r["meta"] for r in read_jsonl(tmp_path / "set" / "targeted.sft.jsonl")}
    assert meta["toy/p0"]["chosen_complete"] is False and meta["toy/p1"]["chosen_complete"] is True

    from transformers import AutoTokenizer

    from qmr_core.recover.train import sft_features
    from qmr_core.store.recovery import examples_of_kind

    tok = AutoTokenizer.from_pretrained(tiny_model)
    by_pid = {r.problem_id: r for r in examples_of_kind(store, rep.set_id, "targeted")}
    for pid, ended in (("toy/p0", False), ("toy/p1", True)):
        r = by_pid[pid]
        feats = sft_features(tok, r)
        plain = tok(r.prompt + r.chosen)["input_ids"]
        assert feats["input_ids"] == plain + ([tok.eos_token_id] if ended else [])
        n_prompt = len(feats["completion_mask"]) - sum(feats["completion_mask"])
        assert 0 < n_prompt <= len(tok(r.prompt)["input_ids"]) and len(feats["completion_mask"]) == len(feats["input_ids"])
    old = replace(by_pid["toy/p0"], chosen_complete=None)  # sets built before v5: EOS as before
    assert sft_features(tok, old)["input_ids"][-1] == tok.eos_token_id


def test_no_lost_problems_is_a_clear_error(tmp_path):
    store, base, quant = make_store(tmp_path / "n.duckdb")
    store.execute("UPDATE samples SET correct = true WHERE run_id = ?", [quant])
    with pytest.raises(QmrError, match="lost no problems"):
        build_set(store, quant, base)


def test_jsonl_files_hold_both_formats_and_never_the_holdout(toy, tmp_path):
    store, base, quant = toy
    rep = build_set(store, quant, base, holdout=0.5, seed=3, out_dir=tmp_path / "out")
    names = sorted(p.name for p in rep.files)
    assert names == ["control.dpo.jsonl", "control.sft.jsonl", "targeted.dpo.jsonl", "targeted.sft.jsonl"]
    for path in rep.files:
        lines = read_jsonl(path)
        assert len(rep.targeted) == 4
        assert len(lines) == len(rep.control if path.name.startswith("control") else rep.targeted)
        fmt = {"prompt", "completion", "meta"} if ".sft." in path.name else {"prompt", "chosen", "rejected", "meta"}
        assert all(set(x) == fmt for x in lines)
        assert all(set(x["meta"]) >= {"problem_id", "error_type", "cut_step"} for x in lines)
        assert not {x["meta"]["problem_id"] for x in lines} & set(rep.holdout)
    sft, dpo = read_jsonl(tmp_path / "out/targeted.sft.jsonl"), read_jsonl(tmp_path / "out/targeted.dpo.jsonl")
    for s, d in zip(sft, dpo, strict=True):
        assert s["prompt"] == d["prompt"] and s["completion"] == d["chosen"] != d["rejected"]
        assert s["prompt"].startswith(PROMPT) and F.endswith(s["completion"])


def test_build_cli_prints_counts_and_errors_in_one_line(toy, tmp_path):
    store, base, quant = toy
    ok = runner.invoke(app, ["recover", "build", "--base", base[:6], "--quant", quant[:6], "--out", str(tmp_path / "c"),
                             "--db", str(store.path)])
    assert ok.exit_code == 0, ok.output
    assert "Execution" in ok.output and "Degenerate" in ok.output and "control set: " in ok.output
    bad = runner.invoke(app, ["recover", "build", "--quant", quant, "-e", "typo", "--db", str(store.path)])
    assert bad.exit_code == 1 and bad.output.strip().startswith("error: unknown error type 'typo'"), bad.output
    assert "Traceback" not in bad.output


# -- training on the tiny model ----------------------------------------------------------------

needs_trl = pytest.mark.skipif(not (find_spec("peft") and find_spec("trl")), reason="peft and trl are not installed")


@pytest.fixture(scope="module")
def tiny_store(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recover")
    store, base, quant = make_store(folder / "t.duckdb", source=str(tiny_model),
                                    fp_id=resolve_model(str(tiny_model)).model_id)
    rep = build_set(store, quant, base, holdout=0.25, seed=0)
    return store, base, quant, rep


def _train(store, set_id, objective, out):
    from qmr_core.recover.train import TrainParams, train_adapter

    return train_adapter(store, set_id, TrainParams(objective=objective, lr=5e-2, max_steps=2, batch_size=2), out)


@pytest.fixture(scope="module")
def sft_adapter(tiny_store, tmp_path_factory):
    store, _b, _q, rep = tiny_store
    return _train(store, rep.set_id, "sft", tmp_path_factory.mktemp("sft") / "adapter")


def _logits(ref, text="Step 1: 12 * 7 = 84."):
    import torch

    from qmr_core.engines.hf import load_model_and_tokenizer

    model, tok, _ = load_model_and_tokenizer(ref)
    with torch.no_grad():
        return model(**tok(text, return_tensors="pt")).logits


@needs_trl
def test_sft_adapter_records_and_loads_back(tiny_store, sft_adapter, tiny_model):
    store, _b, quant, rep = tiny_store
    res = sft_adapter
    assert res.steps == 2 and len(res.losses) == 2 and all(x > 0 for x in res.losses)
    assert (res.adapter_dir / "adapter_config.json").is_file()
    recipe = json.loads((res.adapter_dir / "qmr_recovery.json").read_text())
    assert recipe["base_model"] == f"{tiny_model}@rtn-w2g64" and recipe["parent_run_id"] == quant
    assert recipe["train_problem_ids"] == sorted(r["problem_id"] for r in rep.targeted)
    assert recipe["hparams"]["rank"] == 8 and recipe["hparams"]["objective"] == "sft"
    from qmr_core.device import Machine

    assert recipe["hparams"]["device"] == ("cuda" if Machine.this().cuda else "cpu")  # qmr_core.device decides
    assert set(recipe["hparams"]["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    row = store.query_dicts("SELECT * FROM recoveries WHERE adapter_id = ?", [res.adapter_id])[0]
    assert (row["kind"], row["objective"], row["n_train"], row["steps"], row["parent_run_id"]) == ("targeted", "sft", 6, 2, quant)
    assert json.loads(row["losses_json"]) == res.losses and row["final_loss"] == res.losses[-1]
    assert row["train_seconds"] > 0 and json.loads(row["hparams_json"])["lr"] == 5e-2

    ref = resolve_model(str(res.adapter_dir))
    quant_ref = resolve_model(f"{tiny_model}@rtn-w2g64")
    assert ref.adapter == str(res.adapter_dir) and ref.rtn == quant_ref.rtn
    assert ref.model_id == f"{quant_ref.model_id}+lora-{res.adapter_id}" == row["model_id"]
    assert ref.base_model_id == quant_ref.model_id
    diff = (_logits(ref) - _logits(quant_ref)).abs().max().item()
    assert diff > 1e-4  # LoRA B starts at zero: a difference means training moved it
    with pytest.raises(QmrError, match="drop the @ suffix"):
        resolve_model(f"{res.adapter_dir}@rtn-w4g64")


@needs_trl
def test_dpo_adapter_trains_against_the_frozen_base(tiny_store, tmp_path, tiny_model):
    store, _b, _q, rep = tiny_store
    res = _train(store, rep.set_id, "dpo", tmp_path / "dpo")
    assert res.steps == 2 and len(res.losses) == 2
    # the first DPO loss is log 2: the policy equals its reference (the quantized model, adapter disabled)
    assert res.losses[0] == pytest.approx(0.6931, abs=1e-3)
    ref = resolve_model(str(res.adapter_dir))
    diff = (_logits(ref) - _logits(resolve_model(f"{tiny_model}@rtn-w2g64"))).abs().max().item()
    assert diff > 1e-4
    assert store.query("SELECT objective FROM recoveries WHERE adapter_id = ?", [res.adapter_id]) == [("dpo",)]


@needs_trl
def test_wall_time_limit_stops_training(tiny_store, tmp_path):
    from qmr_core.recover.train import TrainParams, train_adapter

    store, _b, _q, rep = tiny_store
    res = train_adapter(store, rep.set_id, TrainParams(kind="control", max_steps=5, max_minutes=1e-6), tmp_path / "a")
    assert res.stopped_by_time and res.steps == 1 and len(res.losses) == 1
    row = store.query_dicts("SELECT * FROM recoveries WHERE adapter_id = ?", [res.adapter_id])[0]
    assert row["kind"] == "control" and json.loads(row["hparams_json"])["stopped_by_time"] is True


@needs_trl
def test_train_errors_are_one_line(tiny_store):
    store, *_ = tiny_store
    bad = runner.invoke(app, ["recover", "train", "--set", "nope", "--db", str(store.path)])
    assert bad.exit_code == 1 and bad.output.strip().startswith("error: no recovery set 'nope'"), bad.output
    bad = runner.invoke(app, ["recover", "train", "--set", "x", "--objective", "ppo", "--db", str(store.path)])
    assert bad.exit_code == 1 and "--objective must be one of sft, dpo" in bad.output


@needs_trl
def test_an_adapter_is_refused_where_a_base_model_is_meant(tiny_store, sft_adapter, tmp_path):
    store = tiny_store[0]
    adapter = str(sft_adapter.adapter_dir)
    for args, message in [
        (["quantize", "--model", adapter, "--method", "rtn", "--bits", "4", "--out", str(tmp_path / "q")], "recovery adapter"),
        (["sensitivity", "--model", adapter, "--bits", "4"], "not a recovery adapter"),
    ]:
        out = runner.invoke(app, [*args, "--db", str(store.path)])
        assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output, out.output
    assert not (tmp_path / "q").exists()


@needs_trl
def test_recover_eval_runs_the_parent_setup_without_training_problems(tiny_store, sft_adapter):
    store, base, quant, rep = tiny_store
    res = sft_adapter
    out = runner.invoke(app, ["recover", "eval", str(res.adapter_dir), "--device", "cpu", "-k", "4", "--db", str(store.path)])
    assert out.exit_code == 0, out.output
    row = store.query_dicts("SELECT * FROM recoveries WHERE adapter_id = ?", [res.adapter_id])[0]
    run = store.query_dicts("SELECT * FROM runs WHERE run_id = ?", [row["eval_run_id"]])[0]
    assert run["parent_run_id"] == quant and run["model_id"] == row["model_id"]
    assert (run["benchmark"], run["prompt_template"], run["decoding_json"]) == ("toy", "steps", DECODING)
    evaluated = {r[0] for r in store.query("SELECT problem_id FROM samples WHERE run_id = ?", [run["run_id"]])}
    trained = {r["problem_id"] for r in rep.targeted}
    assert evaluated == {f"toy/p{i}" for i in range(10)} - trained
    model = store.query_dicts("SELECT * FROM models WHERE model_id = ?", [row["model_id"]])[0]
    assert model["method"] == "rtn+lora" and model["bits"] == 2
    assert model["base_model_id"] == row["quant_model_id"] == store.query("SELECT model_id FROM runs WHERE run_id = ?", [quant])[0][0]
    assert model["source"] == str(res.adapter_dir)  # what --model takes to load it again
    summary = json.loads(row["summary_json"])
    assert summary["n_evaluated"] == 4 and summary["n_excluded_trained"] == 6
    assert summary["lost"]["n"] == 2 and summary["holdout"]["n"] == 2  # the held-out lost problems
    assert sum(t["lost"] for t in summary["by_type"]) == 2
    assert set(summary["acc"]) == {"full_precision", "quantized", "recovered"}
    assert summary["acc"]["quantized"] == pytest.approx(2 / 4)  # p8 and p9 are right under quantization
    shown = runner.invoke(app, ["recover", "show", "--db", str(store.path)])
    assert shown.exit_code == 0 and res.adapter_id in shown.output and run["run_id"] in shown.output
    from qmr_core.store.queries import run_model_spec

    assert run_model_spec(store, run["run_id"]) == str(res.adapter_dir)  # teacher forcing can reload it


def test_a_judge_without_diagnoses_is_refused(toy, tmp_path):
    store, base, quant = toy
    with pytest.raises(QmrError, match="no diagnoses by judge 'symbolc'.*combined, symbolic"):
        build_set(store, quant, base, judge="symbolc", out_dir=tmp_path / "o")


def test_control_cuts_the_full_precision_trace_where_the_traces_part_at_once(toy, tmp_path):
    store, base, quant = toy
    rep = build_set(store, quant, base, holdout=0.0, out_dir=tmp_path / "o")
    assert len(rep.control) == len(rep.targeted) == 8
    parted = [r for r in rep.control if r["problem_id"] == "toy/p4"]  # Q_STEP0: wrong from its first step
    assert [r["cut_in"] for r in parted] == ["full_precision"]
    assert store.query("SELECT cut_in FROM recovery_examples WHERE kind = 'control' AND problem_id = 'toy/p4'") == [("full_precision",)]
