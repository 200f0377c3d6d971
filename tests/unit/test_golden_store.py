"""benchmarks/golden_store.py compare: exit status and report on two tiny hand-made stores."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "golden_store.py"

SAMPLES = [  # run_id, problem_id, sample_idx, output, correct, latency_ms, created_at
    ("r1", "sample/1", 0, "2 + 2 = 4. \\boxed{4}", True, 812.5, datetime(2026, 1, 1, 10, 0, 0)),
    ("r1", "sample/2", 0, "3 * 3 = 6. \\boxed{6}", False, 640.0, datetime(2026, 1, 1, 10, 0, 1)),
    ("r2", "sample/1", 0, "2 + 2 = 5. \\boxed{5}", False, 901.25, datetime(2026, 1, 1, 10, 0, 2)),
]


def make_store(path: Path, samples=SAMPLES, run_ids=("r1", "r2"), extra_table: bool = False) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, model_id VARCHAR, benchmark VARCHAR, "
                "prompt_template VARCHAR, decoding_json VARCHAR, engine VARCHAR, created_at TIMESTAMP)")
    for run_id, model in zip(run_ids, ("fp", "fp@rtn-w4g64")):
        con.execute("INSERT INTO runs VALUES (?, ?, 'sample', 'steps', '{}', 'hf', now())", [run_id, model])
    con.execute("CREATE TABLE samples (run_id VARCHAR, problem_id VARCHAR, sample_idx INTEGER, output VARCHAR, "
                "correct BOOLEAN, latency_ms DOUBLE, created_at TIMESTAMP, PRIMARY KEY (run_id, problem_id, sample_idx))")
    rename = dict(zip(("r1", "r2"), run_ids))
    con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?)", [(rename[s[0]], *s[1:]) for s in samples])
    if extra_table:
        con.execute("CREATE TABLE notes (text VARCHAR)")
        con.execute("INSERT INTO notes VALUES ('new')")
    con.close()
    return path


def compare(before: Path, after: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "compare", str(before), str(after), *flags],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def before(tmp_path: Path) -> Path:
    return make_store(tmp_path / "before.duckdb")


def test_identical_stores_exit_0(before: Path, tmp_path: Path) -> None:
    done = compare(before, make_store(tmp_path / "after.duckdb"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "samples                       3        3  yes" in done.stdout
    assert "IDENTICAL" in done.stdout


def test_changed_grade_exits_1_and_shows_the_row(before: Path, tmp_path: Path) -> None:
    changed = [SAMPLES[0], SAMPLES[1][:4] + (True,) + SAMPLES[1][5:], SAMPLES[2]]
    done = compare(before, make_store(tmp_path / "after.duckdb", samples=changed))
    assert done.returncode == 1, done.stdout
    assert "samples                       3        3  NO" in done.stdout
    assert "'problem_id': 'sample/2'" in done.stdout and "correct: False -> True" in done.stdout
    assert "DIFFERENT in 1 table(s): samples" in done.stdout


def test_volatile_columns_are_ignored_and_listed(before: Path, tmp_path: Path) -> None:
    moved = [s[:5] + (s[5] * 3, datetime(2027, 6, 1, 0, 0, i)) for i, s in enumerate(SAMPLES)]
    done = compare(before, make_store(tmp_path / "after.duckdb", samples=moved))
    assert done.returncode == 0, done.stdout
    assert "samples.latency_ms" in done.stdout and "samples.created_at" in done.stdout
    assert "samples.output" not in done.stdout and "samples.correct" not in done.stdout


def test_run_ids_are_compared_unless_mapped(before: Path, tmp_path: Path) -> None:
    after = make_store(tmp_path / "after.duckdb", run_ids=("a1", "a2"))
    assert compare(before, after).returncode == 1
    mapped = compare(before, after, "--map-run-ids")
    assert mapped.returncode == 0, mapped.stdout


def test_table_with_rows_in_one_store_only_is_a_difference(before: Path, tmp_path: Path) -> None:
    done = compare(before, make_store(tmp_path / "after.duckdb", extra_table=True))
    assert done.returncode == 1
    assert "note: table only after (1 rows)" in done.stdout


def test_missing_store_is_one_error_line(before: Path, tmp_path: Path) -> None:
    done = compare(before, tmp_path / "nope.duckdb")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) == 1


def build(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "build", *args], capture_output=True, text=True, timeout=120, check=False)


def test_build_refuses_an_existing_store_and_a_bad_revision(before: Path, tmp_path: Path) -> None:
    existing = build("HEAD", "--db", str(before))
    assert existing.returncode == 2 and "exists" in existing.stderr
    bad = build("no-such-revision-xyz", "--db", str(tmp_path / "new.duckdb"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: git rev-parse")
    assert not (tmp_path / "new.duckdb").exists()
