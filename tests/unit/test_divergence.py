"""fp-referenced divergence on the tiny model: batched values equal a naive token-by-token loop; storage and locator."""

import math

import pytest
import torch

from qmr_core.compare import compare_runs
from qmr_core.diagnose.divergence import DivItem, divergence, first_unlikely, per_step
from qmr_core.diagnose.divergence_store import fp_locator, pending_pairs, score_divergence
from qmr_core.diagnose.rules import step_at
from qmr_core.diagnose.teacher_forcing import TFItem
from qmr_core.benchmarks.prompts import get_template
from qmr_core.benchmarks.steps import split_steps
from qmr_core.store import Store
from tests.helpers.toy_store import BASE_OK, QUANT_BAD, add_problem, add_sample

BASE = [
    "Step 1: There are 4 rows of 6 eggs.\nStep 2: 4 * 6 = 24.\nThe final answer is \\boxed{24}.",
    "Step 1: 2 + 3 = 5.\nStep 2: So the answer is \\boxed{5}.",
]
QUANT = [
    "Step 1: There are 3 rows with 24.\nStep 2: 3 * 24 = 72.\nThe final answer is \\boxed{72}.",
    "Step 1: 2 + 3 = 6.",
]



def _tf(engine, k: int, out: str, eos: bool) -> TFItem:
    prompt = engine.render(get_template("steps").render(f"Problem {k}: what is {k} + {k * 7}?"))
    return TFItem((f"p{k}", 0), prompt, out, [(s.start, s.end) for s in split_steps(out).steps], eos)


def make_items(engine) -> list[DivItem]:
    return [DivItem((f"p{k}", 0), _tf(engine, k, b, True), _tf(engine, k, q, k == 0))
            for k, (b, q) in enumerate(zip(BASE, QUANT, strict=True))]


@torch.no_grad()
def naive_rows(engine, item: TFItem) -> tuple[list[int], list[int], list[torch.Tensor]]:
    """Token ids, offsets and the next-token log-prob row before each token, one prefix at a time."""
    tok = engine.tokenizer
    prompt = tok(item.prompt, add_special_tokens=not engine.has_chat_template)["input_ids"]
    enc = tok(item.output, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), [s for s, _ in enc["offset_mapping"]]
    if item.ended_with_eos:
        ids.append(tok.eos_token_id)
        offsets.append(len(item.output))
    rows = [engine.model(input_ids=torch.tensor([prompt + ids[:t]])).logits[0, -1].float().log_softmax(-1)
            for t in range(len(ids))]
    return ids, offsets, rows


def test_both_directions_match_the_naive_loop(tiny_engines):
    fp, quant = tiny_engines
    items = make_items(fp)
    for batch_size in (1, 3):
        results = divergence(fp, quant, items, batch_size=batch_size)
        for item, res in zip(items, results, strict=True):
            assert res.key == item.key
            ids, offsets, fp_rows = naive_rows(fp, item.base)
            _ids, _off, q_rows = naive_rows(quant, item.base)
            kl = [float((f.exp() * (f - q)).sum()) for f, q in zip(fp_rows, q_rows, strict=True)]
            assert res.fp_offsets == offsets
            assert res.kl_tokens == pytest.approx(kl, abs=2e-3)
            assert all(k >= 0 for k in res.kl_tokens) and max(kl) > 0.01  # the 2-bit copy really differs
            ids, offsets, fp_rows = naive_rows(fp, item.quant)
            _ids, _off, q_rows = naive_rows(quant, item.quant)
            surprisal = [-float(r[i]) for r, i in zip(fp_rows, ids, strict=True)]
            ranks = [int((r > r[i]).sum()) for r, i in zip(fp_rows, ids, strict=True)]
            seams = [t for t, (r, i) in enumerate(zip(q_rows, ids, strict=True)) if int(r.argmax()) != i]
            assert res.q_offsets == offsets
            assert res.surprisal_tokens == pytest.approx(surprisal, abs=2e-3)
            assert res.fp_rank_tokens == ranks
            assert res.seam_tokens == seams
            first = first_unlikely(surprisal, ranks, seams, res.threshold)
            assert res.first_unlikely_token == first
            assert res.first_unlikely_step == (step_at(offsets[first], item.quant.spans) if first is not None else None)
            assert len(res.kl_steps) == len(item.base.spans) and len(res.surprisal_steps) == len(item.quant.spans)
            row = res.as_row()
            assert row["kl_mean"] == pytest.approx(sum(kl) / len(kl), abs=2e-3)
            assert row["surprisal_max"] == pytest.approx(max(surprisal), abs=2e-3)


def test_a_model_against_itself_has_no_divergence(tiny_engines):
    fp, _quant = tiny_engines
    res = divergence(fp, fp, make_items(fp), batch_size=2)
    assert all(k == pytest.approx(0.0, abs=1e-4) for r in res for k in r.kl_tokens)
    # the fp model on a trace it did not write: every token it would not write itself is a seam, and every other
    # token is its own top choice, so the locator never fires
    assert all(r.first_unlikely_token is None for r in res)


def test_locator_and_step_reduction_by_hand():
    s = [0.1, 5.0, 4.0, 0.2]
    assert first_unlikely(s, [0, 1, 1, 0], seams=[], threshold=3.0) == 1
    assert first_unlikely(s, [0, 1, 1, 0], seams=[1], threshold=3.0) == 2
    assert first_unlikely(s, [0, 0, 3, 0], seams=[], threshold=3.0) == 2  # fp's own top choice never counts
    assert first_unlikely(s, [0, 1, 1, 0], seams=[1, 2], threshold=3.0) is None
    assert first_unlikely([3.0], [2], seams=[], threshold=3.0) is None  # strictly above the threshold
    spans = [(0, 10), (11, 20)]
    # offset 10 lies between the steps: it belongs to the next one; past the end: the last one
    assert per_step([1.0, 3.0, 2.0, 5.0], [0, 5, 10, 25], spans) == [3.0, 5.0]
    assert per_step([1.0, 3.0], [0, 5], spans, lambda v: sum(v) / len(v)) == [2.0, None]
    assert math.isclose(math.log(20), 2.9957, abs_tol=1e-4)


def add_run(store: Store, run_id: str, model_id: str, base_model_id: str | None = None) -> None:
    store.upsert("models", [{"model_id": model_id, "name": model_id, "source": model_id.split("@")[0], "method": "rtn" if base_model_id else "none",
                             "base_model_id": base_model_id}])
    store.upsert("runs", [{"run_id": run_id, "model_id": model_id, "benchmark": "toy", "prompt_template": "steps",
                           "prompt_text": "p", "decoding_json": "{}", "engine": "hf", "status": "done"}])


@pytest.fixture
def pair_store(tmp_path, tiny_model):
    s = Store(tmp_path / "d.duckdb")
    add_run(s, "base00000001", str(tiny_model))
    add_run(s, "quant0000001", f"{tiny_model}@rtn-w2g64", base_model_id=str(tiny_model))
    spec = {"p1": (True, False), "p2": (False, True), "p3": (True, True), "p4": (False, False), "p5": (True, False)}
    for pid, (b, q) in spec.items():
        add_problem(s, pid, "algebra", 1)
        add_sample(s, "base00000001", pid, b, BASE_OK)
        add_sample(s, "quant0000001", pid, q, QUANT_BAD if not q else BASE_OK)
    compare_runs(s, "base00000001", "quant0000001")
    return s


def test_scored_stored_resumed_and_located(pair_store):
    s = pair_store
    assert [q.problem_id for _b, q in pending_pairs(s, "quant0000001", "base00000001")] == ["p1", "p3", "p5"]
    assert score_divergence(s, "quant0000001", "base00000001", device="cpu", batch_size=2) == 3
    rows = s.query_dicts("SELECT * FROM divergence ORDER BY problem_id")
    assert [r["problem_id"] for r in rows] == ["p1", "p3", "p5"]
    for r in rows:
        assert r["fp_n_tokens"] == len(r["kl_tokens"]) == len(r["fp_offsets"]) > 0
        assert r["q_n_tokens"] == len(r["surprisal_tokens"]) == len(r["fp_rank_tokens"]) == len(r["q_offsets"])
        assert r["kl_mean"] == pytest.approx(sum(r["kl_tokens"]) / len(r["kl_tokens"]), abs=1e-3)
        assert r["n_seams"] == len(r["seam_tokens"]) and r["unlikely_nats"] == pytest.approx(math.log(20), abs=1e-3)
        assert r["device"] == "cpu" and r["quant_model_id"].endswith("@rtn-w2g64")
    # p3: both traces are the same text, so both sides score the same tokens
    p3 = rows[1]
    assert p3["fp_offsets"] == p3["q_offsets"]
    locator = fp_locator(s, "base00000001", "quant0000001")
    assert set(locator) == {("p1", 0), ("p3", 0), ("p5", 0)}
    assert locator[("p1", 0)] == rows[0]["first_unlikely_step"]
    # again: nothing pending, nothing written; --force rescores the same values
    assert pending_pairs(s, "quant0000001", "base00000001") == []
    assert score_divergence(s, "quant0000001", "base00000001", device="cpu") == 0
    assert score_divergence(s, "quant0000001", "base00000001", device="cpu", force=True) == 3
    again = s.query_dicts("SELECT * FROM divergence ORDER BY problem_id")
    for a, b in zip(again, rows, strict=True):
        assert a["kl_tokens"] == pytest.approx(b["kl_tokens"], abs=1e-4)
        assert a["first_unlikely_step"] == b["first_unlikely_step"]


# -- flip prediction: AUC from stored rows ------------------------------------------------------


def _div_row(pid: str, kl_mean: float, kl_max: float, surprisal: float | None) -> dict:
    return {"base_run_id": "base00000001", "quant_run_id": "quant0000001", "problem_id": pid, "sample_idx": 0,
            "base_sample_idx": 0, "fp_n_tokens": 1, "kl_mean": kl_mean, "kl_max": kl_max, "kl_tokens": [kl_mean],
            "q_n_tokens": 1, "surprisal_mean": surprisal, "n_seams": 0, "unlikely_nats": 3.0}


@pytest.fixture
def scored_store(tmp_path):
    from tests.helpers.toy_store import add_run as add_toy_run

    s = Store(tmp_path / "f.duckdb")
    add_toy_run(s, "base00000001", "m")
    add_toy_run(s, "quant0000001", "m@rtn-w3g64", base_model_id="m")
    outcomes = {"p1": (True, False), "p2": (True, False), "p3": (True, True), "p4": (True, True), "p5": (False, False),
                "p6": (False, True)}
    for pid, (b, q) in outcomes.items():
        add_problem(s, pid, "algebra", 1)
        add_sample(s, "base00000001", pid, b, BASE_OK)
        add_sample(s, "quant0000001", pid, q, BASE_OK if q else QUANT_BAD)
    compare_runs(s, "base00000001", "quant0000001")
    # lost p1, p2; both right p3, p4; p5 (both wrong) and p6 (gained) are never counted
    s.upsert("divergence", [_div_row("p1", 0.2, 1.0, 2.0), _div_row("p2", 0.4, 1.0, None), _div_row("p3", 0.1, 1.0, 0.5),
                            _div_row("p4", 0.3, 2.0, 0.4), _div_row("p5", 9.0, 9.0, 9.0), _div_row("p6", 0.0, 0.0, 0.0)])
    return s


def test_flip_prediction_auc_from_stored_rows(scored_store):
    from qmr_core.diagnose.flip_prediction import flip_prediction

    [r] = flip_prediction(scored_store)
    assert (r.base_run_id, r.quant_run_id, r.n_lost, r.n_both_right) == ("base00000001", "quant0000001", 2, 2)
    assert r.auc["kl_mean"].auc == 0.75  # lost 0.2, 0.4 vs both right 0.1, 0.3
    assert r.auc["kl_max"].auc == 0.25  # lost 1, 1 vs 1, 2: two ties, two losses: (0.5 + 0 + 0.5 + 0) / 4
    assert r.auc["surprisal_mean"].auc == 1.0 and r.auc["surprisal_mean"].n_pos == 1  # the missing value is left out
    assert flip_prediction(scored_store, ["other"]) == []


def test_errors_and_report_show_the_auc(scored_store):
    from typer.testing import CliRunner

    from qmr_core.cli import app
    from qmr_core.report.paper import build_report
    from qmr_core.report.render import render_markdown

    scored_store.upsert("diagnoses", [{"run_id": "quant0000001", "problem_id": "p1", "sample_idx": 0, "judge": "combined",
                                       "first_error_step": 1, "error_type": "Execution", "capability": "numerical computation"}])
    out = CliRunner().invoke(app, ["errors", "--db", str(scored_store.path)], terminal_width=100)
    assert out.exit_code == 0, out.output
    assert "flip prediction" in out.output and "2 / 2" in out.output and "0.75 [" in out.output
    _data, tables = build_report(scored_store)
    table = next(t for t in tables if t.name == "flip_prediction")
    row = table.rows[0]
    assert row[table.columns.index("lost")] == 2 and row[table.columns.index("AUC KL mean")] == 0.75
    assert "Flip prediction" in render_markdown(tables)


def test_qmr_diagnose_scores_divergence_and_errors_prints_the_auc(pair_store):
    from typer.testing import CliRunner

    from qmr_core.cli import app

    db = str(pair_store.path)
    runner = CliRunner()
    off = runner.invoke(app, ["diagnose", "--run", "quant0000001", "--no-divergence", "--device", "cpu", "--db", db])
    assert off.exit_code == 0, off.output
    assert "divergence rows: 0" in off.output and pair_store.query("SELECT count(*) FROM divergence")[0][0] == 0
    on = runner.invoke(app, ["diagnose", "--run", "quant0000001", "--device", "cpu", "--db", db])
    assert on.exit_code == 0, on.output
    assert "divergence rows: 3" in on.output
    errors = runner.invoke(app, ["errors", "--db", db], terminal_width=100)
    assert errors.exit_code == 0 and "flip prediction" in errors.output and "2 / 1" in errors.output
