"""`qmr import lighteval`: real lighteval 0.13 --save-details output (tests/fixtures/lighteval, made by running
lighteval on SmolLM2-135M-Instruct here; see its README) becomes runs that pair with `qmr eval` runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from qmr_core.cli import app
from qmr_core.errors import QmrError
from qmr_core.grading import grade
from qmr_core.importers.common import ModelOverride
from qmr_core.importers.lighteval import (
    doc_messages, doc_plain_text, import_lighteval, read_details, results_for, task_benchmark, task_of,
)
from qmr_core.importers.verdicts import agreement, disagreements
from qmr_core.store import Store
from tests.conftest import needs_smollm2

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lighteval"
runner = CliRunner()


def _details() -> Path:
    return next(FIXTURES.rglob("details_*.parquet"))


def _edited_copy(tmp_path: Path, edit) -> Path:
    """A copy of lighteval's output folder whose details rows pass through `edit(rows)`."""
    folder = tmp_path / "edited"
    shutil.copytree(FIXTURES / "out", folder)
    path = next(folder.rglob("details_*.parquet"))
    table = pq.read_table(path)
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    return folder


def test_fixture_is_lighteval_output():
    rows = read_details(_details())
    assert len(rows) == 6 and all(r["model_response"]["text"] and r["model_response"]["input_tokens"] for r in rows)
    assert sorted(r["doc"]["id"] for r in rows) == [str(i) for i in range(6)]
    task, date = task_of(_details(), rows)
    assert task == "gsm8k_plain" and date and date.startswith("2026-")
    results = results_for(_details(), date)
    assert results["config_general"]["model_config"]["batch_size"] == 1 and "gsm8k_plain|0" in results["results"]


def test_task_names_and_prompt_layouts():
    assert task_benchmark("gsm8k") == task_benchmark("gsm8k_plain") == "gsm8k"
    assert task_benchmark("math_500") == task_benchmark("math500_local") == "math500"
    assert task_benchmark("math:algebra") == task_benchmark("minerva_math") == "math"
    assert task_benchmark("arc:easy") is None and task_benchmark("aime24") is None
    assert task_of(Path("details_lighteval|gsm8k|5_2025-01-01T00-00-00.1.parquet"), [])[0] == "gsm8k"
    shot = {"query": "Q: 1+1?", "choices": ["2"], "gold_index": 0}
    doc = {"query": "Solve. Q: 2+2?", "instruction": "Solve. ", "fewshot_samples": [shot]}
    # lighteval's PromptManager: the instruction goes before the first query (chat) or stands alone (plain text)
    assert doc_messages(doc, "Be brief.") == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Solve. Q: 1+1?"},
        {"role": "assistant", "content": "2"}, {"role": "user", "content": "Q: 2+2?"}]
    assert doc_plain_text(doc, None) == "Solve. \n\nQ: 1+1? 2\n\nQ: 2+2?"
    assert doc_messages({"query": "Q?"}, None) == [{"role": "user", "content": "Q?"}]


@needs_smollm2
def test_import_counts_ids_prompts_and_model(shared_data, tmp_path):
    from transformers import AutoTokenizer

    from qmr_core.quant.float_copy import materialize_gguf
    from qmr_core.models.registry import resolve_model
    from qmr_core.benchmarks.prompts import PLAIN

    store = Store(tmp_path / "i.duckdb")
    (r,) = import_lighteval(store, FIXTURES)
    assert (r.task, r.benchmark, r.model_id, r.n_problems, r.n_samples, r.n_mapped) == (
        "gsm8k_plain", "gsm8k", "smollm2-135m", 6, 6, 6)
    run = store.query_dicts("SELECT * FROM runs")[0]
    assert run["engine"] == "lighteval" and run["status"] == "done" and run["model_id"] == "smollm2-135m"
    assert json.loads(run["decoding_json"]) == {"max_new_tokens": 96, "temperature": 0.0, "top_p": None,
                                                "n_samples": 1, "seed": None, "stop": None}
    rows = store.query_dicts("SELECT s.*, p.problem, p.answer, p.kind FROM samples s JOIN problems p USING (problem_id) "
                             "ORDER BY problem_id")
    assert [x["problem_id"] for x in rows] == [f"gsm8k/test/{i}" for i in range(6)]  # matched by text
    # the stored prompt is the one lighteval fed the model (its input_tokens, decoded) and the one
    # `qmr eval --prompt plain` renders for the same problem
    tok = AutoTokenizer.from_pretrained(materialize_gguf(resolve_model("smollm2-135m").gguf_file))
    by_id = {d["doc"]["id"]: d for d in read_details(_details())}
    for i, x in enumerate(rows):
        detail = by_id[str(i)]
        assert x["prompt"] == tok.decode(detail["model_response"]["input_tokens"])
        assert x["prompt"] == tok.apply_chat_template(PLAIN.render(x["problem"]), tokenize=False, add_generation_prompt=True)
        assert x["output"] == detail["model_response"]["text"][0]
        assert x["correct"] == grade(x["answer"], x["output"], x["kind"]).correct
        assert x["finish_reason"] == "length"  # 96 of 96 tokens, batch size 1
    # re-importing updates the same run
    again = import_lighteval(store, FIXTURES / "out" / "details")
    assert [a.run_id for a in again] == [r.run_id] and store.query("SELECT count(*) FROM samples")[0][0] == 6


def test_regrade_keeps_lighteval_verdicts_and_lists_disagreements(shared_data, tmp_path):
    def right_answer_for_doc_0(rows):
        row = next(x for x in rows if x["doc"]["id"] == "0")
        assert row["metric"]["extractive_match"] == 0.0
        row["model_response"]["text"] = ["She sells 16 - 3 - 4 = 9 eggs for $2 each: 9 * 2 = 18.\nThe answer is \\boxed{18}."]

    store = Store(tmp_path / "d.duckdb")
    override = ModelOverride(model_id="smol-fp")
    (plain,) = import_lighteval(store, FIXTURES, override)
    assert plain.n_disagree == 0 and plain.tool_metric == "extractive_match" and plain.tool_score == 0.0
    verdicts = store.query_dicts("SELECT * FROM external_verdicts ORDER BY problem_id")
    assert len(verdicts) == 6 and {v["source"] for v in verdicts} == {"lighteval"}
    assert all(v["metric"] == "extractive_match" and v["correct"] is False for v in verdicts)
    assert verdicts[0]["problem_id"] == "gsm8k/test/0" and verdicts[0]["extracted"] == "48"  # lighteval's extraction

    folder = _edited_copy(tmp_path, right_answer_for_doc_0)
    (edited,) = import_lighteval(store, folder, ModelOverride(model_id="smol-edited"))
    assert edited.n_disagree == 1 and edited.qmr_score == pytest.approx(1 / 6)
    (agree,) = agreement(store, [edited.run_id])
    assert (agree.n, agree.tool_right, agree.qmr_right, agree.disagree) == (6, 0, 1, 1)
    (row,) = disagreements(store, edited.run_id)
    assert (row.problem_id, row.tool_correct, row.qmr_correct, row.qmr_answer) == ("gsm8k/test/0", False, True, "18")


def test_imported_runs_pair_with_each_other_and_with_a_native_run(shared_data, tiny_model, tmp_path):
    from qmr_core.benchmarks.registry import load_benchmark, select
    from qmr_core.api import evaluate
    from qmr_core.compare import compare_runs, infer_base_run
    from qmr_core.engines.base import Decoding

    store = Store(tmp_path / "c.duckdb")
    (fp,) = import_lighteval(store, FIXTURES, ModelOverride(model_id="smol-fp"))
    (q4,) = import_lighteval(store, FIXTURES, ModelOverride(model_id="smol-q4", base_model_id="smol-fp", method="gptq", bits=4))
    assert infer_base_run(store, q4.run_id) == fp.run_id
    same = compare_runs(store, fp.run_id, q4.run_id, write=True)
    assert same.n == 6 and same.lost == [] and same.abs_drop == 0 and same.warnings == []
    pids = [r[0] for r in store.query("SELECT problem_id FROM samples WHERE run_id = ?", [fp.run_id])]
    native = evaluate(store, str(tiny_model), "gsm8k", problems=select(load_benchmark("gsm8k"), ids=pids), prompt="plain",
                      decoding=Decoding(max_new_tokens=96), batch_size=6, device="cpu").run_id
    cross = compare_runs(store, native, fp.run_id, write=False)
    assert cross.n == 6  # problem by problem, under qmr's own ids
    assert not any("decoding" in w for w in cross.warnings)  # same greedy decoding, same budget


@pytest.mark.slow
@needs_smollm2
def test_pairs_with_a_native_smollm2_run_without_warnings(shared_data, tmp_path):
    """`qmr eval --prompt plain` on the same six problems: same model id, same prompts, same greedy outputs."""
    from qmr_core.benchmarks.registry import load_benchmark, select
    from qmr_core.api import evaluate
    from qmr_core.compare import compare_runs
    from qmr_core.engines.base import Decoding

    store = Store(tmp_path / "n.duckdb")
    (imported,) = import_lighteval(store, FIXTURES)
    problems = select(load_benchmark("gsm8k"), ids=[f"gsm8k/test/{i}" for i in range(6)])
    native = evaluate(store, "smollm2-135m", "gsm8k", problems=problems, prompt="plain", decoding=Decoding(max_new_tokens=96),
                      batch_size=1, device="cpu").run_id
    models = store.query("SELECT DISTINCT model_id FROM runs")
    assert models == [("smollm2-135m",)]
    summary = compare_runs(store, native, imported.run_id, write=False)
    assert summary.n == 6 and summary.warnings == [], summary.warnings
    pairs = store.query("""SELECT n.output = i.output FROM samples n JOIN samples i USING (problem_id, sample_idx)
                           WHERE n.run_id = ? AND i.run_id = ?""", [native, imported.run_id])
    assert len(pairs) == 6 and all(p[0] for p in pairs)  # lighteval and qmr generated the same text


def test_without_results_file_the_model_comes_from_the_details_path(shared_data, tmp_path):
    folder = tmp_path / "only-details"
    shutil.copytree(FIXTURES / "out" / "details", folder / "details")
    store = Store(tmp_path / "p.duckdb")
    (r,) = import_lighteval(store, folder)
    assert r.model_id == "lighteval:smollm2-135m-instruct" and r.n_mapped == 6
    assert any("results_" in n for n in r.notes)


def test_custom_task_name_is_recognized_by_its_problems(shared_data, tmp_path):
    folder = tmp_path / "renamed"
    shutil.copytree(FIXTURES / "out", folder)
    path = next(folder.rglob("details_*.parquet"))
    path.rename(path.with_name(path.name.replace("gsm8k_plain", "my_eval")))
    (r,) = import_lighteval(Store(tmp_path / "r.duckdb"), folder, ModelOverride(model_id="smol"))
    assert (r.task, r.benchmark, r.n_mapped) == ("my_eval", "gsm8k", 6)


def test_cli_import_and_errors(shared_data, tmp_path):
    db = tmp_path / "cli.duckdb"
    res = runner.invoke(app, ["import", "lighteval", str(FIXTURES), "--db", str(db), "--model-id", "smol"])
    assert res.exit_code == 0, res.output
    (run_id,) = [r[0] for r in Store(db, create=False).query("SELECT run_id FROM runs")]
    assert run_id in res.output and "6/6" in res.output

    def one_error(args: list[str], needle: str) -> None:
        out = runner.invoke(app, ["import", "lighteval", *args, "--db", str(db)])
        assert out.exit_code == 1 and out.output.startswith("error:") and needle in out.output, out.output
        assert len(out.output.strip().splitlines()) == 1, out.output

    one_error([str(tmp_path / "nothing")], "does not exist")
    one_error([str(FIXTURES / "README.md")], "not a lighteval details file")
    fake = tmp_path / "details_x|0_2026-01-01T00-00-00.0.parquet"
    fake.write_text("not parquet")
    one_error([str(fake)], "cannot read")
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"example": ["q"], "predictions": ["a"]}), wrong)
    one_error([str(wrong)], "no doc, metric, model_response column")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error([str(empty)], "--save-details")
    one_error([str(FIXTURES), "--base-model", "x"], "--method")
    one_error([str(FIXTURES), "--benchmark", str(tmp_path / "missing.jsonl")], "missing.jsonl")
    assert Store(db, create=False).query("SELECT count(*) FROM samples")[0][0] == 6  # errors lost nothing
    help_ = runner.invoke(app, ["import", "lighteval", "--help"])
    assert help_.exit_code == 0 and "Example:" in help_.output


def test_a_custom_task_without_known_problems_asks_for_the_benchmark(tmp_path):
    def unknown_problems(rows):
        for i, row in enumerate(rows):
            row["doc"]["query"] = f"Name a colour number {i}, please, in one word."

    folder = _edited_copy(tmp_path, unknown_problems)
    path = next(folder.rglob("details_*.parquet"))
    path.rename(path.with_name(path.name.replace("gsm8k_plain", "colours")))
    with pytest.raises(QmrError, match="--benchmark"):
        import_lighteval(Store(tmp_path / "u.duckdb"), folder, ModelOverride(model_id="smol"))
