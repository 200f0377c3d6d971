"""The store's typed contract: RunSummary, ModelRecord and the stage reads of `qmr show` and the browser."""

from __future__ import annotations

import dataclasses

import pytest

from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.models import upsert_model
from qmr_core.store.records import ModelRecord, RunSummary
from qmr_core.store.runs import list_run_ids, run_summaries, run_summary
from qmr_core.store.samples import find_problem, sample_detail
from tests.helpers.tui_store import BASE, Q3, Q4, build_small_store


@pytest.fixture
def small(tmp_path):
    return Store(build_small_store(tmp_path / "store.duckdb"), create=False, write=False)


def test_one_run_summary_per_run_with_its_model_and_counts(small):
    runs = {r.run_id: r for r in run_summaries(small)}
    assert set(runs) == {BASE, Q4, Q3} and all(isinstance(r, RunSummary) for r in runs.values())
    base, q3 = runs[BASE], runs[Q3]
    assert base.full_precision and base.family == "tiny-fp" and base.family_name == "tiny-fp"
    assert (q3.method, q3.bits, q3.group_size, q3.base_model_id) == ("rtn", 3, 64, "tiny-fp")
    assert q3.family == "tiny-fp" and q3.family_name == "tiny-fp" and q3.short_quant == "rtn w3g64"
    assert q3.comparable(base) and q3.n > 0 and 0 <= (q3.accuracy or 0) <= 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        q3.status = "done"  # type: ignore[misc]
    assert run_summary(small, Q4) == runs[Q4] and run_summary(small, "nope") is None


def test_run_ids_by_age_or_by_prefix(small):
    assert sorted(list_run_ids(small)) == sorted([BASE, Q4, Q3])
    assert list_run_ids(small, "run-w") == sorted([Q4, Q3]) and list_run_ids(small, "x") == []


def test_a_model_record_upsert_keeps_what_it_does_not_know(tmp_path):
    store = Store(tmp_path / "m.duckdb")
    with store.transaction() as con:
        upsert_model(con, ModelRecord("m", "m", "src", "none", source_precision="bf16", n_params=10))
        upsert_model(con, ModelRecord("m", "m2", "src", "none", n_params=12))  # knows no precision
    assert store.query("SELECT name, source_precision, n_params, bits FROM models") == [("m2", "bf16", 12, None)]


def test_qmr_show_reads_one_sample_with_its_steps(small):
    pid = find_problem(small, Q3, 0, "algebra/1")
    assert pid == "sample/algebra/1"
    detail = sample_detail(small, Q3, pid)
    assert detail.answer == "49" and detail.extracted_answer == "42" and not detail.correct
    assert [i for i, _ in detail.steps] == list(range(len(detail.steps))) and "42 dollars" in detail.steps[2][1]
    with pytest.raises(QmrError, match="ambiguous"):
        find_problem(small, Q3, 0, "0")  # sample/filler/000, .../010, ...
    with pytest.raises(QmrError, match="no sample 3"):
        find_problem(small, Q3, 3, "algebra/1")


def test_add_model_records_once_and_only_fills_gaps(tmp_path):
    from qmr_core.store.models import add_model, replace_model

    store = Store(tmp_path / "m.duckdb")
    base = ModelRecord("fp", "fp", "src", "none", source_precision="bf16")
    quant = ModelRecord("fp@w4", "fp@w4", "dir", "gptq", base_model_id="fp", bits=4, n_params=None)
    replace_model(store, quant, base)  # quantize writes first
    add_model(store, ModelRecord("fp@w4", "fp@w4", "other", "rtn", source_precision="bf16"), base,
              fill={"n_params": 7, "bits": 8})
    rows = store.query("SELECT model_id, source, method, bits, n_params, source_precision FROM models ORDER BY 1")
    # the row from before schema v6 gets its precision only; the fill waits for a row whose precision is known
    assert rows == [("fp", "src", "none", None, None, "bf16"), ("fp@w4", "dir", "gptq", 4, None, "bf16")]
    add_model(store, ModelRecord("fp@w4", "fp@w4", "other", "rtn"), fill={"n_params": 7, "bits": 8})
    assert store.query("SELECT bits, n_params FROM models WHERE model_id = 'fp@w4'") == [(4, 7)]


def test_whole_row_records_match_their_tables_after_every_migration(tmp_path):
    """A record built with `Record(**row)` from `SELECT *` must name every column of its table, in order."""
    from qmr_core.store import records as rec

    store = Store(tmp_path / "cols.duckdb")
    whole_rows = {
        "runs": rec.RunRow, "recovery_sets": rec.RecoverySet, "recovery_examples": rec.RecoveryExample,
        "recoveries": rec.Recovery, "sensitivity_runs": rec.SensitivityRun, "sensitivity": rec.SensitivityCell,
        "judge_votes": rec.JudgeVote,
    }
    for table, record in whole_rows.items():
        columns = [r[0] for r in store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table])]
        assert [f.name for f in dataclasses.fields(record)] == columns, table
        assert record.__dataclass_params__.frozen  # type: ignore[attr-defined]
