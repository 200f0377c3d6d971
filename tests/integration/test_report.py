"""`qmr report`: the numbers (on a store made by real runs of the tiny model, with verdicts set so the
expected values are known), the four output formats, the LaTeX compiling, the figures, and the CLI."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmr_core.benchmarks.registry import load_benchmark, select
from qmr_core.cli import app
from qmr_core.api import evaluate
from qmr_core.engines.base import Decoding
from qmr_core.report.paper import ReportData, build_report
from qmr_core.report.render import (
    latex_document, render_csv_text, render_html, render_latex, render_markdown, write_csv,
)
from qmr_core.store import Store

runner = CliRunner()


def _pids(store: Store, run_id: str) -> list[str]:
    return [r[0] for r in store.query("SELECT problem_id FROM samples WHERE run_id = ? ORDER BY problem_id", [run_id])]


@pytest.fixture(scope="module")
def made_store(tiny_model, tmp_path_factory) -> Path:
    """fp, rtn-w4g64 and rtn-w3g64 runs of the tiny model on 6 bundled problems, 2 subjects and 3 levels
    (w3 on only 4)."""
    path = tmp_path_factory.mktemp("report") / "r.duckdb"
    store = Store(path)
    problems = select(load_benchmark("sample"), subjects=["Algebra"], limit=3) + select(load_benchmark("sample"), subjects=["Geometry"], limit=3)
    dec = Decoding(max_new_tokens=6)
    for spec, probs in ((str(tiny_model), problems), (f"{tiny_model}@rtn-w4g64", problems), (f"{tiny_model}@rtn-w3g64", problems[:4])):
        evaluate(store, spec, "sample", problems=probs, decoding=dec, batch_size=6, device="cpu")
    return path


@pytest.fixture
def store(made_store, tmp_path) -> Store:
    """A copy with known verdicts: fp right on the 4 problems w3 has, w4 right on two of them and on one
    other, w3 right on none."""
    path = tmp_path / "r.duckdb"
    shutil.copy(made_store, path)
    s = Store(path, create=False)
    runs = dict(s.query("SELECT m.method || coalesce(CAST(m.bits AS VARCHAR), ''), r.run_id FROM runs r JOIN models m USING (model_id)"))
    fp, w4, w3 = runs["none"], runs["rtn4"], runs["rtn3"]
    pids = _pids(s, w3)  # the 4 problems every run has first, then the 2 only fp and w4 have
    pids += [p for p in _pids(s, fp) if p not in pids]
    s.execute("UPDATE samples SET correct = false")
    s.execute("UPDATE samples SET correct = true WHERE run_id = ? AND problem_id IN (SELECT unnest(?))", [fp, pids[:4]])
    s.execute("UPDATE samples SET correct = true WHERE run_id = ? AND problem_id IN (SELECT unnest(?))", [w4, [pids[0], pids[1], pids[4]]])
    s.ids = {"fp": fp, "w4": w4, "w3": w3, "pids": pids}  # type: ignore[attr-defined]
    return s


def _row(table, run_id):
    return next(r for r in table.rows if r[-1] == run_id)


def test_accuracy_degradation_and_lost_gained_from_samples(store):
    ids = store.ids
    data, tables = build_report(store)
    acc = tables[0]
    col = {c: i for i, c in enumerate(acc.columns)}
    fp, w4, w3 = (_row(acc, ids[k]) for k in ("fp", "w4", "w3"))
    assert fp[col["n"]] == 6 and fp[col["pass@1 (%)"]] == pytest.approx(4 / 6) and fp[col["drop (pp)"]] is None
    assert w4[col["pass@1 (%)"]] == pytest.approx(3 / 6)
    assert w4[col["drop (pp)"]] == pytest.approx(1 / 6) and w4[col["rel. drop (%)"]] == pytest.approx(0.25)
    assert (w4[col["lost"]], w4[col["gained"]]) == (2, 1)
    # w3 has 4 problems: compared with fp on those 4 (fp right on all 4 of them)
    assert w3[col["n"]] == 4 and w3[col["drop (pp)"]] == pytest.approx(1.0) and w3[col["rel. drop (%)"]] == pytest.approx(1.0)
    assert (w3[col["lost"]], w3[col["gained"]]) == (4, 0) and w3[col["McNemar p"]] == pytest.approx(0.125)
    assert data.base_of[ids["w4"]].run_id == ids["fp"]


def test_pairs_table_is_used_when_compare_stored_it(store):
    ids = store.ids
    store.upsert("pairs", [{"base_run_id": ids["fp"], "quant_run_id": ids["w4"], "problem_id": p, "outcome": o}
                           for p, o in zip(ids["pids"][:3], ("lost", "lost", "lost"), strict=True)])
    acc = build_report(store)[1][0]
    row = _row(acc, ids["w4"])
    assert (row[acc.columns.index("lost")], row[acc.columns.index("gained")]) == (3, 0)


def test_subject_level_and_format_tables(store):
    ids = store.ids
    _data, tables = build_report(store)
    by_name = {t.name: t for t in tables}
    subj = next(t for n, t in by_name.items() if n.startswith("by_subject_"))
    meta = dict(store.query("SELECT problem_id, subject FROM problems"))
    fp_col = next(i for i, c in enumerate(subj.columns) if c.startswith("fp"))  # "fp32": the tiny checkpoint's dtype
    for row in subj.rows[:-1]:
        mine = [p for p in ids["pids"] if meta[p] == row[0]]
        assert row[1] == len(mine) and row[fp_col] == pytest.approx(sum(p in ids["pids"][:4] for p in mine) / len(mine))
    assert subj.rows[-1][0] == "all" and subj.rows[-1][fp_col] == pytest.approx(4 / 6)
    fmt = by_name["format"]
    n_length = store.query("SELECT count(*) FROM samples WHERE run_id = ? AND finish_reason = 'length'", [ids["fp"]])[0][0]
    assert _row(fmt, ids["fp"])[fmt.columns.index("truncated (%)")] == pytest.approx(n_length / 6)


def _diag(run_id, pid, judge, step, etype, cap=None):
    return {"run_id": run_id, "problem_id": pid, "sample_idx": 0, "judge": judge, "first_error_step": step,
            "error_type": etype, "capability": cap}


def test_error_types_capabilities_and_first_error_position(store):
    ids = store.ids
    w3, pids = ids["w3"], ids["pids"]
    n_steps = dict(store.query("SELECT problem_id, n_steps FROM samples WHERE run_id = ?", [w3]))
    store.execute("UPDATE samples SET n_steps = 4 WHERE run_id = ?", [w3])
    # two judges, no `combined` row: the report takes the majority per sample
    rows = [_diag(w3, pids[0], "a", 0, "Execution"), _diag(w3, pids[0], "b", 0, "Execution"), _diag(w3, pids[0], "c", 2, "Method"),
            _diag(w3, pids[1], "a", 3, "Method"), _diag(w3, pids[1], "b", 3, "Method"),
            _diag(w3, pids[2], "a", None, None)]
    store.upsert("diagnoses", rows)
    data, tables = build_report(store)
    et = {t.name: t for t in tables}["error_types"]
    r = _row(et, w3)
    col = {c: i for i, c in enumerate(et.columns)}
    assert r[col["diagnosed"]] == 3 and r[col["Execution"]] == pytest.approx(1 / 3) and r[col["Method"]] == pytest.approx(1 / 3)
    assert r[col["unlocated"]] == pytest.approx(1 / 3) and "majority" in et.title
    cap = {t.name: t for t in tables}["capabilities"]
    rc = _row(cap, w3)
    assert rc[cap.columns.index("numerical")] == pytest.approx(1 / 3) and rc[cap.columns.index("reasoning")] == pytest.approx(1 / 3)
    fe = {t.name: t for t in tables}["first_error"]
    rf = _row(fe, w3)
    assert rf[fe.columns.index("located")] == 2 and rf[fe.columns.index("mean pos.")] == pytest.approx((1 / 4 + 4 / 4) / 2)
    assert rf[fe.columns.index("early (%)")] == pytest.approx(0.5)
    # a `combined` row wins over the judges
    store.upsert("diagnoses", [_diag(w3, pids[1], "combined", 1, "Conceptual", "problem understanding")])
    et2 = {t.name: t for t in build_report(store)[1]}["error_types"]
    assert "combined" in et2.title and _row(et2, w3)[et2.columns.index("Conceptual")] == pytest.approx(1.0)
    assert n_steps  # the run had samples to diagnose


def test_sampling_runs_report_pass1_over_samples_and_sd(tiny_model, tmp_path):
    store = Store(tmp_path / "s.duckdb")
    problems = select(load_benchmark("sample"), limit=3)
    run_id = evaluate(store, str(tiny_model), "sample", problems=problems,
                      decoding=Decoding(max_new_tokens=4, temperature=1.0, n_samples=2, seed=3), batch_size=6, device="cpu").run_id
    pids = _pids(store, run_id)[::2]
    store.execute("UPDATE samples SET correct = false")
    # problem 0: both samples right; problem 1: sample 0 right; problem 2: none -> pass@1 = (1 + 0.5 + 0) / 3
    store.execute("UPDATE samples SET correct = true WHERE problem_id = ? OR (problem_id = ? AND sample_idx = 0)", [pids[0], pids[1]])
    acc = build_report(store)[1][0]
    row = acc.rows[0]
    col = {c: i for i, c in enumerate(acc.columns)}
    assert row[col["K"]] == 2 and row[col["pass@1 (%)"]] == pytest.approx(0.5)
    assert row[col["sd"]] == pytest.approx(((2 / 3 - 0.5) ** 2 * 2) ** 0.5)  # sample 0: 2/3, sample 1: 1/3


def test_formats_render_and_latex_compiles(store, tmp_path):
    _data, tables = build_report(store)
    md = render_markdown(tables)
    assert md.startswith("# qmr report") and "| model | quant |" in md and "---:|" in md
    tex = render_latex(tables)
    assert tex.count("\\begin{table}") == len(tables) and "\\toprule" in tex and "\\resizebox" in tex
    csv_text = render_csv_text(tables)
    assert csv_text.startswith("# accuracy")
    written = write_csv(tables, tmp_path / "csv")
    with (tmp_path / "csv" / "accuracy.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["model", "quant", "benchmark"] and len(rows) == 4 and len(written) == len(tables)
    assert "<table>" in render_html(tables, ["x.png"]) and "<img src='x.png'" in render_html(tables, ["x.png"])
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    doc = tmp_path / "t.tex"
    doc.write_text(latex_document(tex))
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_plots_are_png_files(store, tmp_path):
    pytest.importorskip("matplotlib")
    from qmr_core.report.plots import write_plots

    ids = store.ids
    store.execute("UPDATE samples SET n_steps = 3 WHERE run_id = ?", [ids["w3"]])
    store.upsert("diagnoses", [_diag(ids["w3"], p, "combined", i % 3, "Degenerate", "degenerate output") for i, p in enumerate(ids["pids"][:4])])
    data, tables = build_report(store)
    written, skipped = write_plots(data, tables, tmp_path / "fig")
    assert {p.name for p in written} == {"accuracy_vs_bits.png", "error_types.png", "first_error_position.png"} and not skipped
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_cli_report(store, tmp_path):
    db = store.path
    res = runner.invoke(app, ["report", "--db", str(db), "--format", "md", "--out", str(tmp_path / "r.md"), "--plots", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.md").read_text().startswith("# qmr report")
    assert "Accuracy by model" in res.output  # the terminal gets the rich tables too
    printed = runner.invoke(app, ["report", "--db", str(db), "--format", "latex"])
    assert printed.exit_code == 0 and printed.output.lstrip().startswith("% qmr report")
    bad = runner.invoke(app, ["report", "--db", str(db), "--format", "docx"])
    assert bad.exit_code == 1 and bad.output.startswith("error:") and "docx" in bad.output
    none = runner.invoke(app, ["report", "--db", str(db), "--benchmark", "math500"])
    assert none.exit_code == 1 and none.output.startswith("error: no runs match")
    help_ = runner.invoke(app, ["report", "--help"])
    assert help_.exit_code == 0 and "Example:" in help_.output


def test_report_data_filters_keep_bases(store):
    ids = store.ids
    data = ReportData(store, runs=[ids["w4"][:6]])
    assert [r.run_id for r in data.runs] == [ids["w4"]] and data.base_of[ids["w4"]].run_id == ids["fp"]
