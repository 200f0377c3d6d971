import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pyarrow.parquet as pq
from typer.testing import CliRunner

from conftest import count_samples
from qmr_core.cli import app

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def _error_line(result):
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert "Traceback" not in text and text.startswith("error:"), text
    return text


def test_every_command_has_help_with_an_example():
    for cmd in ("eval", "runs", "show", "sql", "export", "demo"):
        result = run(cmd, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, cmd


def test_the_cli_starts_without_loading_torch():
    """`qmr tui`, `qmr sql`, `qmr report`... must not wait ~1.5 s for torch; the commands that run a model import it."""
    code = "import sys, qmr_core.cli; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_eval_runs_show_sql_export_roundtrip(tiny_model, tmp_path):
    db = tmp_path / "c.duckdb"
    result = run("eval", "--model", tiny_model, "--benchmark", "sample", "--limit", 3, "-k", 2, "-t", 8, "--db", db)
    assert result.exit_code == 0, result.output
    again = run("eval", "--model", tiny_model, "--benchmark", "sample", "--limit", 3, "-k", 2, "-t", 8, "--db", db)
    assert again.exit_code == 0 and "nothing to generate" in again.output
    runs = run("runs", "--db", db)
    assert runs.exit_code == 0 and "sample" in runs.output
    run_id = duckdb.connect(str(db), read_only=True).execute("SELECT run_id FROM runs").fetchone()[0]
    show = run("show", run_id[:6], "prealgebra/1", "--db", db)
    assert show.exit_code == 0, show.output
    assert "gold:" in show.output and "verdict:" in show.output
    sql = run("sql", "SELECT count(*) AS n FROM samples", "--db", db)
    assert sql.exit_code == 0 and "3" in sql.output
    denied = run("sql", "DELETE FROM samples", "--db", db)
    assert "read-only" in _error_line(denied).lower()
    for fmt in ("csv", "parquet", "json", "md", "latex"):
        out = tmp_path / f"x.{fmt}"
        res = run("export", "--query", "SELECT problem_id, correct, latency_ms FROM samples", "--format", fmt, "--out", out, "--db", db)
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 0
    assert pq.read_table(tmp_path / "x.parquet").num_rows == 3
    assert len(json.loads((tmp_path / "x.json").read_text())) == 3
    assert (tmp_path / "x.md").read_text().startswith("| problem_id |")
    assert "\\toprule" in (tmp_path / "x.latex").read_text()
    whole = run("export", "--query", "problems", "--format", "csv", "--out", tmp_path / "p.csv", "--db", db)
    assert whole.exit_code == 0 and (tmp_path / "p.csv").read_text().count("\n") >= 4


def test_clear_one_line_errors(tmp_path, tiny_model):
    db = tmp_path / "c.duckdb"
    assert "does not exist" in _error_line(run("eval", "--model", "./missing-model", "--db", db))
    assert "unknown benchmark" in _error_line(run("eval", "--model", tiny_model, "--benchmark", "nope", "--db", db))
    assert "no qmr store" in _error_line(run("runs", "--db", tmp_path / "none.duckdb"))
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"garbage" * 1000)
    assert "cannot open store" in _error_line(run("runs", "--db", bad))
    assert "unknown engine" in _error_line(run("eval", "--model", tiny_model, "--engine", "nope", "--db", db))
    assert "prompt template" in _error_line(run("eval", "--model", tiny_model, "--prompt", "nope", "--limit", 1, "--db", db))
    assert "temperature" in _error_line(run("eval", "--model", tiny_model, "--samples", 3, "--db", db))
    result = run("eval", "--model", tiny_model, "--limit", 1, "-t", 4, "--db", db)
    assert result.exit_code == 0
    assert "no run" in _error_line(run("show", "zzzz", "x", "--db", db))
    assert "database" in _error_line(run("sql", "SELECT * FROM nope", "--db", db))


def test_sigkill_mid_run_then_resume_loses_at_most_one_batch(tiny_model, tmp_path):
    """A real `qmr eval` process is SIGKILLed mid-run; the rerun completes it with no duplicate."""
    db = tmp_path / "k.duckdb"
    n = 12
    args = [sys.executable, "-m", "qmr_core.cli", "eval", "--model", str(tiny_model), "--benchmark", "sample",
            "--limit", str(n), "--batch-size", "2", "--max-new-tokens", "24", "--db", str(db)]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)

    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        stored = count_samples(db)
        if stored >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"eval finished before it could be killed: {proc.stderr.read().decode()[-500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)
    after_kill = count_samples(db)
    assert 4 <= after_kill < n
    steps_before = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM steps").fetchone()[0]
    resumed = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert f"{n - after_kill} samples to generate" in resumed.stdout.replace("\n", " ")
    con = duckdb.connect(str(db), read_only=True)
    total, distinct = con.execute("SELECT count(*), count(DISTINCT problem_id) FROM samples").fetchone()
    assert total == distinct == n
    orphan_steps = con.execute(
        "SELECT count(*) FROM steps t LEFT JOIN samples s USING (run_id, problem_id, sample_idx) WHERE s.run_id IS NULL"
    ).fetchone()[0]
    assert orphan_steps == 0
    assert con.execute("SELECT count(*) FROM steps").fetchone()[0] >= steps_before
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "done"
