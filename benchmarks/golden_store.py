"""Golden comparison of two qmr stores: does a demo store built after a change hold the same rows as before?

    python benchmarks/golden_store.py build REV --db PATH [--limit N] [--python PY]
    python benchmarks/golden_store.py compare BEFORE.duckdb AFTER.duckdb [--map-run-ids] [--max-diffs 5]

`build` checks the committed REV out into a temporary `git worktree` under the system temp folder, runs
`python -m qmr_core.cli demo --db PATH` there (PYTHONPATH=<worktree>, OMP_NUM_THREADS=1, so the demo runs
REV's code, not this checkout's, with the interpreter running this script unless --python says otherwise)
and removes the worktree afterwards. Uncommitted changes are not part of the build. The demo's model cache
(~/.cache/qmr) is shared between builds.

`compare` opens both stores read-only and, for every table, compares the multiset of rows over the
columns both stores have, leaving out only the columns listed in VOLATILE (wall-clock times, durations,
process ids and host names: they differ between two builds of the same commit). Everything that carries a
result is compared exactly: floats by their repr, lists element by element. Run ids are hashes of
(model, benchmark, prompt, decoding, engine) and are compared as they are; with --map-run-ids every
run-id column is replaced by that run's (model, benchmark, prompt template, decoding, engine) first, for a
change that re-keys runs on purpose. A table or column present in one store only is reported; it counts
as a difference when it holds data (rows, or non-NULL values). `schema_version` lists the migrations, not
results: its differences are shown but do not fail the comparison.
Calibration: two demo builds of commit 5f48f3e (one in a hand-made worktree, one by `build`) differed only
in created_at, runs.finished_at, schema_version.applied_at and samples.latency_ms; every other column,
floats of flips and divergence included, was equal. The other VOLATILE columns are empty in a demo store
and are left out for what they mean (timings, pids, host names). Paths (recovery export_dir, adapter_path)
are what the user named, so they are compared.
Exit status: 0 identical, 1 any difference, 2 bad arguments or unreadable stores.

The compare code reads the stores with plain DuckDB and imports nothing from qmr_core, so it judges any
two revisions alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]

# Columns that differ between two builds of the same commit, by name (any table) or table.column.
VOLATILE: dict[str, str] = {
    "created_at": "wall-clock time the row was written",
    "finished_at": "wall-clock time the run finished",
    "applied_at": "wall-clock time the migration was applied",
    "acquired_at": "wall-clock time the run lease was taken",
    "heartbeat_at": "wall-clock time of the lease's last heartbeat",
    "latency_ms": "generation time of a sample (timing)",
    "quant_seconds": "time quantization took (timing)",
    "peak_rss_bytes": "peak memory of the quantizing process (varies with allocator and load)",
    "seconds": "time a measurement took (timing)",
    "train_seconds": "time training took (timing)",
    "run_leases.pid": "process id of the run's owner",
    "run_leases.host": "host name of the run's owner",
    "run_leases.proc_start": "start time of the owner process (clock ticks since boot)",
}
NOTE_ONLY_TABLES = {"schema_version": "the applied migrations (schema, not results): shown, never fails"}
RUN_ID_COLUMNS = ("run_id", "base_run_id", "quant_run_id", "parent_run_id", "trace_run_id", "eval_run_id")
RUN_KEY_COLUMNS = ("model_id", "benchmark", "prompt_template", "decoding_json", "engine")


class GoldenError(Exception):
    """Bad arguments or an unreadable store: one `error:` line, exit status 2."""


def volatile_reason(table: str, column: str) -> str | None:
    return VOLATILE.get(f"{table}.{column}") or VOLATILE.get(column)


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class Table:
    name: str
    columns: list[str]
    key: list[str] = field(default_factory=list)  # primary key columns, when declared


def open_store(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.is_file():
        raise GoldenError(f"{path} is not a file")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise GoldenError(f"cannot open {path} read-only: {exc}") from exc


def list_tables(con: duckdb.DuckDBPyConnection) -> dict[str, Table]:
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary ORDER BY table_name"
    ).fetchall()]
    tables = {}
    for name in names:
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [name],
        ).fetchall()]
        key = con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'main' AND table_name = ? "
            "AND constraint_type = 'PRIMARY KEY'",
            [name],
        ).fetchone()
        tables[name] = Table(name, cols, list(key[0]) if key else [])
    return tables


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def norm(value: Any) -> Any:
    """A hashable, exactly comparable form: floats by repr (NaN equals NaN), lists as tuples."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return tuple(norm(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), norm(v)) for k, v in value.items()))
    return value


def run_keys(con: duckdb.DuckDBPyConnection, tables: dict[str, Table]) -> dict[str, str]:
    """run_id -> the run's identity in words, for --map-run-ids."""
    runs = tables.get("runs")
    if runs is None:
        return {}
    cols = [c for c in RUN_KEY_COLUMNS if c in runs.columns]
    rows = con.execute(f"SELECT run_id, {', '.join(map(_q, cols))} FROM runs").fetchall()
    return {r[0]: "run<" + " | ".join(str(v) for v in r[1:]) + ">" for r in rows}


def fetch_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str],
               keys: dict[str, str] | None) -> list[tuple]:
    rows = con.execute(f"SELECT {', '.join(map(_q, columns))} FROM {_q(table)}").fetchall()
    mapped = [i for i, c in enumerate(columns) if keys is not None and c in RUN_ID_COLUMNS]
    out = []
    for row in rows:
        values = list(row)
        for i in mapped:
            if values[i] is not None:
                values[i] = keys.get(values[i], f"unknown-run<{values[i]}>")  # type: ignore[union-attr]
        out.append(tuple(norm(v) for v in values))
    return out


def non_null_count(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    return con.execute(f"SELECT count({_q(column)}) FROM {_q(table)}").fetchone()[0]  # type: ignore[index]


# ---------------------------------------------------------------------------------------------- comparing


@dataclass
class TableResult:
    name: str
    n_before: int | None
    n_after: int | None
    identical: bool
    fails: bool
    notes: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _short(value: Any, width: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def describe_diffs(columns: list[str], key: list[str], only_b: list[tuple], only_a: list[tuple], limit: int) -> list[str]:
    """Up to `limit` differences: rows paired by primary key show the columns that changed."""
    lines: list[str] = []
    key_idx = [columns.index(k) for k in key] if key and all(k in columns for k in key) else []
    after_by_key = {tuple(r[i] for i in key_idx): r for r in only_a} if key_idx else {}
    paired: set[tuple] = set()
    for row in sorted(only_b, key=repr):
        if len(lines) >= limit:
            return lines
        k = tuple(row[i] for i in key_idx) if key_idx else None
        other = after_by_key.get(k) if k is not None else None
        if other is not None:
            paired.add(k)  # type: ignore[arg-type]
            changed = [f"{c}: {_short(b)} -> {_short(a)}" for c, b, a in zip(columns, row, other) if b != a]
            lines.append(f"  ~ key {dict(zip(key, k))}: " + "; ".join(changed))  # type: ignore[arg-type]
        else:
            lines.append("  - before only: " + _short(dict(zip(columns, row)), 400))
    for row in sorted(only_a, key=repr):
        if len(lines) >= limit:
            break
        if key_idx and tuple(row[i] for i in key_idx) in paired:
            continue
        lines.append("  + after only:  " + _short(dict(zip(columns, row)), 400))
    return lines


def compare_table(cb: duckdb.DuckDBPyConnection, ca: duckdb.DuckDBPyConnection, tb: Table, ta: Table,
                  keys: tuple[dict, dict] | None, limit: int) -> TableResult:
    name = tb.name
    res = TableResult(name, None, None, True, False)
    common = [c for c in tb.columns if c in ta.columns]
    for side, table, con in (("before", tb, cb), ("after", ta, ca)):
        for col in (c for c in table.columns if c not in common):
            filled = non_null_count(con, name, col)
            res.notes.append(f"column {col} only {side} ({filled} non-NULL values)")
            if filled:
                res.identical = False
    compared = [c for c in common if volatile_reason(name, c) is None]
    res.ignored = [c for c in common if c not in compared]
    rows_b = fetch_rows(cb, name, compared, keys[0] if keys else None)
    rows_a = fetch_rows(ca, name, compared, keys[1] if keys else None)
    res.n_before, res.n_after = len(rows_b), len(rows_a)
    cnt_b, cnt_a = Counter(rows_b), Counter(rows_a)
    if cnt_b != cnt_a:
        res.identical = False
        only_b, only_a = list((cnt_b - cnt_a).elements()), list((cnt_a - cnt_b).elements())
        res.diffs = describe_diffs(compared, [k for k in tb.key if k in compared], only_b, only_a, limit)
    res.fails = not res.identical and name not in NOTE_ONLY_TABLES
    return res


def one_sided(con: duckdb.DuckDBPyConnection, table: str, side: str) -> TableResult:
    n = con.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()[0]  # type: ignore[index]
    res = TableResult(table, n if side == "before" else None, n if side == "after" else None, n == 0, False)
    res.notes.append(f"table only {side} ({n} rows)")
    res.fails = n > 0 and table not in NOTE_ONLY_TABLES
    return res


def compare_stores(before: Path, after: Path, map_run_ids: bool = False, limit: int = 5) -> list[TableResult]:
    cb, ca = open_store(before), open_store(after)
    try:
        tb, ta = list_tables(cb), list_tables(ca)
        keys = (run_keys(cb, tb), run_keys(ca, ta)) if map_run_ids else None
        results = []
        for name in sorted(set(tb) | set(ta)):
            if name in tb and name in ta:
                results.append(compare_table(cb, ca, tb[name], ta[name], keys, limit))
            else:
                results.append(one_sided(cb, name, "before") if name in tb else one_sided(ca, name, "after"))
        return results
    finally:
        cb.close()
        ca.close()


def render(results: list[TableResult], before: Path, after: Path, map_run_ids: bool) -> str:
    lines = [f"before: {before}", f"after:  {after}",
             "run ids: " + ("mapped to (model, benchmark, prompt template, decoding, engine)" if map_run_ids
                            else "compared as stored (deterministic hashes)"),
             "ignored columns (volatile between two builds of the same commit):"]
    for res in results:
        for col in res.ignored:
            label = f"{res.name}.{col}"
            lines.append(f"  {label:<32} {volatile_reason(res.name, col)}")
    for table, why in NOTE_ONLY_TABLES.items():
        lines.append(f"  {table + ' (table)':<32} {why}")
    lines.append("")
    lines.append(f"{'table':<22} {'before':>8} {'after':>8}  identical")
    for res in results:
        nb = "-" if res.n_before is None else str(res.n_before)
        na = "-" if res.n_after is None else str(res.n_after)
        verdict = "yes" if res.identical else ("NO" if res.fails else "no (note only)")
        lines.append(f"{res.name:<22} {nb:>8} {na:>8}  {verdict}")
        lines.extend(f"  note: {n}" for n in res.notes)
        lines.extend(res.diffs)
    failing = [r.name for r in results if r.fails]
    total_b = sum(r.n_before or 0 for r in results)
    total_a = sum(r.n_after or 0 for r in results)
    lines.append("")
    lines.append(f"rows: {total_b} before, {total_a} after, {len(results)} tables; "
                 + ("IDENTICAL" if not failing else f"DIFFERENT in {len(failing)} table(s): {', '.join(failing)}"))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- building


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], check=False, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise GoldenError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def build_store(rev: str, db: Path, python: str, demo_args: list[str]) -> int:
    db = db.resolve()
    if db.exists() or Path(f"{db}.wal").exists():
        raise GoldenError(f"{db} exists (the demo would resume it); remove it or choose another --db")
    db.parent.mkdir(parents=True, exist_ok=True)
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    if git("status", "--porcelain", "--untracked-files=no"):
        print(f"note: {ROOT} has uncommitted changes; the store is built from commit {sha[:12]} without them", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="qmr-golden-"))
    tree = tmp / "tree"
    git("worktree", "add", "--detach", str(tree), sha)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
        cmd = [python, "-m", "qmr_core.cli", "demo", "--db", str(db), *demo_args]
        print(f"building {rev} ({sha[:12]}) in {tree}: {' '.join(cmd)}", flush=True)
        started = time.perf_counter()
        rc = subprocess.run(cmd, check=False, cwd=tree, env=env).returncode
        print(f"demo exited {rc} after {time.perf_counter() - started:.0f} s; store {db}", flush=True)
        return rc
    finally:
        git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(tmp, ignore_errors=True)
        git("worktree", "prune")


# ---------------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    pb = sub.add_parser("build", help="run `qmr demo` of a git revision into a new store")
    pb.add_argument("rev", help="git revision (commit, branch, HEAD)")
    pb.add_argument("--db", type=Path, required=True, help="store to create (must not exist)")
    pb.add_argument("--python", default=sys.executable, help="interpreter to run the demo with (default: this one)")
    pb.add_argument("--limit", "-n", type=int, help="pass --limit N to the demo (first N bundled problems)")
    pc = sub.add_parser("compare", help="compare the rows of two stores")
    pc.add_argument("before", type=Path)
    pc.add_argument("after", type=Path)
    pc.add_argument("--map-run-ids", action="store_true", help="compare runs by identity, not by run id hash")
    pc.add_argument("--max-diffs", type=int, default=5, help="differing rows shown per table (default 5)")
    pc.add_argument("--json", action="store_true", help="also print the per-table results as one JSON line")
    args = parser.parse_args(argv)
    try:
        if args.mode == "build":
            return build_store(args.rev, args.db, args.python, ["--limit", str(args.limit)] if args.limit else [])
        results = compare_stores(args.before, args.after, args.map_run_ids, args.max_diffs)
    except GoldenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(results, args.before, args.after, args.map_run_ids))
    if args.json:
        print(json.dumps([{"table": r.name, "before": r.n_before, "after": r.n_after, "identical": r.identical,
                           "fails": r.fails} for r in results]))
    return 1 if any(r.fails for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
