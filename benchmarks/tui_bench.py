"""Speed of `qmr tui` on a store with ~100k samples (targets: first failures table < 1 s, next failure < 50 ms).

Builds (once, cached in --db) a store of N problems x 3 runs (full precision, w4, w3) with generated
4-6 step traces and diagnoses, then drives the real app headless (Textual's run_test) and prints:
  - import time of the app modules (a fresh interpreter),
  - time from App start (as `qmr tui --run BASE`) to the first painted failures table (store open,
    runs, the first page of lost rows, fastdatatable mount and paint) and to the whole comparison
    (all rows, filters with counts), for the 3-run comparison,
  - time to move to the next failure on the trace screen (key n, delivered as the terminal driver
    does, until the new trace is painted), median and p90, plus the cold load of one trace without
    the prefetch cache (what n costs when you outrun the prefetch).

Example: python benchmarks/tui_bench.py --problems 33334
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qmr_core.browse import default_comparison, list_runs, load_trace  # noqa: E402
from qmr_core.store import READER_WARM_HOLD_S, Store  # noqa: E402
from tests.tui_store import BASE, Q3, build_large_store  # noqa: E402


async def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.0005)


async def painted(app) -> None:  # noqa: ANN001
    """Returns once the screen has been refreshed after the changes made so far."""
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


def send_key(app, key: str) -> None:  # noqa: ANN001
    """Deliver a key the way the terminal driver does (Pilot.press also waits for the CPU to idle)."""
    from textual import events

    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)


async def measure(db: Path, presses: int) -> dict[str, float | list[float]]:
    from qmr_tui.app import QmrApp
    from qmr_tui.screens.failures import FailuresScreen
    from qmr_tui.screens.trace import TraceScreen

    out: dict[str, float | list[float]] = {}
    started = time.perf_counter()
    # as `qmr tui --db DB --run BASE` does: check/open the store, then the app (base vs both quantized runs)
    app = QmrApp(db, run=BASE, store=Store(db, create=False, keep_warm_s=READER_WARM_HOLD_S))
    async with app.run_test(size=(160, 50)) as pilot:

        def table_shown() -> bool:
            screen = app.screen
            return (
                isinstance(screen, FailuresScreen)
                and screen.result is not None
                and screen.table.table is not None
                and screen.table.table.region.height > 0
            )

        await wait_for(table_shown)
        await painted(app)
        out["first_table_s"] = time.perf_counter() - started
        screen = app.screen
        out["first_rows"] = float(screen.result.shown)
        await wait_for(lambda: not screen.partial and screen.result is not None and screen.result.total == screen.rows.num_rows
                       and screen.rows.num_rows > out["first_rows"])
        await painted(app)
        out["full_table_s"] = time.perf_counter() - started
        out["rows_loaded"] = float(screen.rows.num_rows)
        out["rows_shown"] = float(screen.result.shown)
        out["load_rows_s"] = screen.load_seconds
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, TraceScreen) and app.screen.detail is not None)
        trace = app.screen
        times: list[float] = []
        for _ in range(presses):
            await wait_for(lambda: all(not w.is_running for w in app.workers if w.group in ("prefetch", "trace")))
            await asyncio.sleep(0.05)
            before = trace.detail.key
            t0 = time.perf_counter()
            send_key(app, "n")
            await wait_for(lambda: trace.detail is not None and trace.detail.key != before)
            await painted(app)
            times.append(time.perf_counter() - t0)
        out["next_s"] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("/tmp/qmr-tui-bench.duckdb"))
    parser.add_argument("--problems", type=int, default=33334, help="problems per run (x3 runs = samples)")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    if args.rebuild and args.db.exists():
        args.db.unlink()
    if not args.db.exists():
        t0 = time.perf_counter()
        build_large_store(args.db, args.problems)
        print(f"built {args.db} in {time.perf_counter() - t0:.1f} s")
    store = Store(args.db, create=False)
    n_samples = store.query("SELECT count(*) FROM samples")[0][0]
    n_steps = store.query("SELECT count(*) FROM steps")[0][0]
    print(f"store: {n_samples} samples, {n_steps} steps, {args.db.stat().st_size / 1e6:.0f} MB")

    imp = subprocess.run([sys.executable, "-c", "import time; t=time.perf_counter(); import qmr_tui.app; print(time.perf_counter()-t)"],
                         capture_output=True, text=True, cwd=REPO, check=True)
    print(f"import qmr_tui.app (fresh interpreter): {float(imp.stdout):.2f} s")

    comp = default_comparison(list_runs(store))
    assert comp is not None
    cold = []
    for pid in ("large/000003", "large/000010", "large/000500"):
        t0 = time.perf_counter()
        load_trace(store, BASE, Q3, pid, "hf:judge")
        cold.append(time.perf_counter() - t0)
    result = asyncio.run(measure(args.db, args.presses))
    nxt = sorted(result["next_s"])  # type: ignore[arg-type]
    p90 = nxt[int(0.9 * (len(nxt) - 1))]
    print(f"first painted failures table: {result['first_table_s']:.3f} s after App start "
          f"(first page: {int(result['first_rows'])} lost rows)   target < 1 s")
    print(f"whole comparison loaded and painted: {result['full_table_s']:.3f} s after App start "
          f"({int(result['rows_loaded'])} comparison rows, {int(result['rows_shown'])} lost shown; "
          f"both queries took {result['load_rows_s']:.3f} s)")
    print(f"next failure (n): median {statistics.median(nxt) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
          f"max {nxt[-1] * 1000:.1f} ms over {len(nxt)} presses   target < 50 ms")
    print(f"cold trace load without the prefetch cache: median {statistics.median(cold) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
