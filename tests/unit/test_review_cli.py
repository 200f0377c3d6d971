"""`qmr review sample`, blind labels, `qmr judge-accuracy` and the report section, end to end on a small store."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmr_core.review.annotations import AnnotationStore
from qmr_core.cli import app
from qmr_core.errors import QmrError
from qmr_core.review.store import ReviewStore
from qmr_core.store import Store
from tests.helpers.review_store import ALICE, BOB, COMBINED, build_review_store
from tests.helpers.tui_store import Q3, Q4

runner = CliRunner()

def invoke(*args: str):
    result = runner.invoke(app, list(args))
    return result


@pytest.fixture
def db(tmp_path) -> Path:
    return build_review_store(tmp_path / "s.duckdb")


def csv_tables(text: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for block in text.strip().split("\n\n"):
        head, _, body = block.partition("\n")
        out[head[2:].split(":")[0]] = list(csv.DictReader(io.StringIO(body)))
    return out


def test_review_sample_is_proportional_seeded_and_named(db):
    r = invoke("review", "sample", "--n", "4", "--by", "error_type", "--seed", "1", "--db", str(db))
    assert r.exit_code == 0, r.output
    review = ReviewStore.for_store(db)
    rs, items = review.require_set("error_type-n4-s1")
    # 5 failures: Execution 3, Conceptual 1, unlocated 1 -> exact 2.4, 0.8, 0.8 -> 2, 1, 1
    assert rs.population == 5 and rs.strata == {"(unlocated)": [1, 1], "Conceptual": [1, 1], "Execution": [3, 2]}
    assert len(items) == 4 and len({i.key for i in items}) == 4
    assert all(i.base_run_id == "run-fp-0001" and (i.run_id, i.problem_id) in COMBINED for i in items)
    # same command again: unchanged; same name with another seed: one error line
    assert "unchanged" in invoke("review", "sample", "--n", "4", "--seed", "1", "--db", str(db)).output
    assert [i.key for i in review.items("error_type-n4-s1")] == [i.key for i in items]
    bad = invoke("review", "sample", "--n", "4", "--seed", "2", "--name", "error_type-n4-s1", "--db", str(db))
    assert bad.exit_code == 1 and "exists with other settings" in bad.output
    # another seed draws the same strata sizes; the same seed on a new name reproduces the draw
    invoke("review", "sample", "--n", "4", "--seed", "1", "--name", "again", "--db", str(db))
    assert [i.key for i in review.items("again")] == [i.key for i in items]
    assert "error_type-n4-s1" in invoke("review", "list", "--db", str(db)).output


def test_review_sample_errors(db):
    r = invoke("review", "sample", "--n", "3", "--judge", "nobody", "--db", str(db))
    assert r.exit_code == 1 and "'nobody' diagnosis" in r.output
    r = invoke("review", "sample", "--n", "3", "--by", "colour", "--db", str(db))
    assert r.exit_code == 1 and "--by must be one of" in r.output
    r = invoke("judge-accuracy", "--db", str(db))
    assert r.exit_code == 1 and "no blind labels" in r.output
    r = invoke("judge-accuracy", "--set", "missing", "--db", str(db))
    assert r.exit_code == 1 and "no review set 'missing'" in r.output


def test_blind_labels_are_final_and_checked(db):
    review = ReviewStore.for_store(db)
    key = (Q3, "sample/algebra/1", 0)
    lab = review.add_blind_label(key, 2, "Execution", annotator="alice", review_set="s", seconds=12.5)
    assert lab.describe() == "step 3 [E:Execution]" and lab.created_at is not None and lab.seconds == 12.5
    with pytest.raises(QmrError, match="would not be blind"):
        review.add_blind_label(key, 1, "Method", annotator="alice")
    with pytest.raises(QmrError, match="error type must be one of"):
        review.add_blind_label(key, 1, "Sloppy", annotator="bob")
    assert review.add_blind_label(key, None, "Method", annotator="bob").error_type is None  # no error: no type
    assert [x.annotator for x in review.blind_labels()] == ["alice", "bob"]
    # accept / correct annotations live beside them and never count as blind
    review.correct(key, "combined", 1, "Method", author="carol")
    assert [x.annotator for x in review.blind_labels()] == ["alice", "bob"]


def test_annotations_file_from_before_any_review(db):
    """A file the TUI's accept / correct / note wrote has no review tables: reads open it read-only,
    so they must treat it as 'no review yet', and `qmr report` must not fail on it."""
    AnnotationStore.for_store(db).set_note((Q3, "sample/algebra/1", 0), "looked at it")
    rep = invoke("report", "--format", "md", "--db", str(db))
    assert rep.exit_code == 0, rep.output
    assert "no review sets yet" in invoke("review", "list", "--db", str(db)).output
    r = invoke("judge-accuracy", "--db", str(db))
    assert r.exit_code == 1 and "no blind labels" in r.output
    r = invoke("review", "sample", "--n", "2", "--seed", "0", "--db", str(db))
    assert r.exit_code == 0, r.output
    assert len(ReviewStore.for_store(db).items("error_type-n2-s0")) == 2


def _label_all(db: Path) -> None:
    review = ReviewStore.for_store(db)
    for who, labels in (("alice", ALICE), ("bob", BOB)):
        for (run, pid), (step, etype) in labels.items():
            review.add_blind_label((run, pid, 0), step, etype, annotator=who)


def test_judge_accuracy_numbers_equal_hand_computed(db):
    _label_all(db)
    r = invoke("judge-accuracy", "--format", "csv", "--db", str(db))
    assert r.exit_code == 0, r.output
    tables = csv_tables(r.output)
    acc = {row["judge"]: row for row in tables["judge_accuracy"]}
    assert list(acc) == ["combined", "hf:judge", "symbolic"]
    assert (acc["combined"]["n"], acc["combined"]["step %"], acc["combined"]["type %"], acc["combined"]["both %"]) == ("5", "0.8", "0.8", "0.6")
    # Wilson 4/5: centre (0.8 + z^2/10) / (1 + z^2/5) = 0.6697, half 0.2941
    assert acc["combined"]["step 95% CI"] == "[37.6, 96.4]"
    assert (acc["hf:judge"]["n"], acc["hf:judge"]["step %"], acc["hf:judge"]["both %"], acc["hf:judge"]["missing"]) == ("4", "0.75", "0.5", "1")
    assert (acc["symbolic"]["n"], acc["symbolic"]["step %"], acc["symbolic"]["missing"]) == ("2", "0.5", "3")
    confusion = {row["label \\ judge"]: row for row in tables["judge_confusion"]}
    assert confusion["Execution"]["Execution"] == "2" and confusion["Method"]["Execution"] == "1"
    assert confusion["Conceptual"]["Conceptual"] == "1" and confusion["none"]["none"] == "1"
    # alice vs bob on 3 shared samples: p_o 2/3, p_e 1/3 on both step and type -> kappa 0.5
    (kappa,) = tables["annotator_agreement"]
    assert (kappa["annotator A"], kappa["annotator B"], kappa["n"]) == ("alice", "bob", "3")
    assert float(kappa["type kappa"]) == pytest.approx(0.5) and float(kappa["step kappa"]) == pytest.approx(0.5)
    # bob as the reference: 3 samples, combined right on algebra/1 and counting/5 only
    r = invoke("judge-accuracy", "--annotator", "bob", "--format", "csv", "--db", str(db))
    combined = csv_tables(r.output)["judge_accuracy"][0]
    assert (combined["n"], combined["both %"]) == ("3", str(2 / 3))
    # the confusion matrix of another judge: hf:judge has no row for w4 counting/5
    r = invoke("judge-accuracy", "--judge", "hf:judge", "--format", "csv", "--db", str(db))
    confusion = {row["label \\ judge"]: row for row in csv_tables(r.output)["judge_confusion"]}
    assert sum(int(row["n"]) for row in confusion.values()) == 4 and "none" not in confusion
    assert "x hf:judge (columns)" in r.output
    # terminal output and the report section
    r = invoke("judge-accuracy", "--db", str(db))
    assert r.exit_code == 0 and "Wilson 95%" in r.output and "alice, bob" in r.output
    rep = invoke("report", "--format", "md", "--db", str(db))
    assert rep.exit_code == 0 and "Judge accuracy against 5 blind labels" in rep.output and "[37.6, 96.4]" in rep.output


def test_judge_accuracy_on_a_set_and_a_run(db):
    _label_all(db)
    invoke("review", "sample", "--n", "2", "--by", "run", "--seed", "0", "--name", "two", "--db", str(db))
    items = ReviewStore.for_store(db).items("two")
    r = invoke("judge-accuracy", "--set", "two", "--format", "csv", "--db", str(db))
    assert csv_tables(r.output)["judge_accuracy"][0]["n"] == "2" and len(items) == 2
    r = invoke("judge-accuracy", "--run", Q4, "--format", "csv", "--db", str(db))
    assert csv_tables(r.output)["judge_accuracy"][0]["n"] == "2"
    assert Store(db).query("SELECT count(*) FROM diagnoses WHERE judge = 'combined'")[0][0] == 5


def test_help_has_examples():
    for cmd in (("review", "sample"), ("review", "list"), ("judge-accuracy",)):
        result = invoke(*cmd, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, cmd
    assert "--review" in invoke("tui", "--help").output
