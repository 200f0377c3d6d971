"""Speed of `qmr tui` on a store with ~100k samples (targets: first failures table < 1 s, next failure < 50 ms).

Builds (once, cached in --db) a store of N problems x 3 runs (full precision, w4, w3) with generated
4-6 step traces and diagnoses, then drives the real app headless (Textual's run_test) in a fresh
interpreter (so one-time library setup is paid as a user pays it) and prints:
  - import time of the app modules,
  - time from App start (as `qmr tui --run BASE`) to the first painted failures table (store open,
    runs, the first page of lost rows, fastdatatable mount and paint) and to the whole comparison
    (all rows, filters with counts), for the 3-run comparison; and the first paint counted from
    the interpreter's start, imports included,
  - time to move to the next failure on the trace screen (key n, delivered as the terminal driver
    does, until the new trace is painted), median and p90, plus the cold load of one trace without
    the prefetch cache (what n costs when you outrun the prefetch).

Example: python benchmarks/tui_bench.py --problems 33334
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()  # before any import below: the first paint counted as a user waits for it

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


async def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.0005)


class Frames:
    """When the app sends a frame to the terminal, with the cost of encoding it included.

    The headless driver of run_test skips turning a frame into terminal escape codes; this does it
    (as a real terminal driver would) and then notes the time. `await frames.showing(cond)` returns
    the time of the first frame sent while cond() holds, i.e. the frame that shows the change
    (call_after_refresh would wait for a later, empty refresh cycle).
    """

    def __init__(self, app) -> None:  # noqa: ANN001
        from textual._compositor import CompositorUpdate

        self.app = app
        self._condition = None
        self._shown: asyncio.Future[float] | None = None
        original = app._display

        def display(screen, renderable) -> None:  # noqa: ANN001
            original(screen, renderable)
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
            if renderable is not None and self._condition is not None and self._condition():
                self._condition = None
                self._shown.set_result(time.perf_counter())

        app._display = display

    async def showing(self, condition, timeout: float = 60.0) -> float:  # noqa: ANN001
        self._shown = asyncio.get_running_loop().create_future()
        self._condition = condition
        return await asyncio.wait_for(self._shown, timeout)


def send_key(app, key: str) -> None:  # noqa: ANN001
    """Deliver a key the way the terminal driver does (Pilot.press also waits for the CPU to idle)."""
    from textual import events

    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)


async def measure(db: Path, presses: int) -> dict[str, float | list[float]]:
    from qmr_core.store import READER_WARM_HOLD_S, Store
    from qmr_tui.app import QmrApp
    from qmr_tui.screens.failures import FailuresScreen
    from qmr_tui.screens.trace import TraceScreen
    from tests.helpers.tui_store import BASE

    out: dict[str, float | list[float]] = {}
    out["import_s"] = time.perf_counter() - PROCESS_START
    started = time.perf_counter()
    # as `qmr tui --db DB --run BASE` does: check/open the store, then the app (base vs both quantized runs)
    app = QmrApp(db, run=BASE, store=Store(db, create=False, keep_warm_s=READER_WARM_HOLD_S))
    async with app.run_test(size=(160, 50)) as pilot:
        frames = Frames(app)

        def table_shown() -> bool:
            screen = app.screen
            return (
                isinstance(screen, FailuresScreen)
                and screen.result is not None
                and screen.table.table is not None
                and screen.table.table.region.height > 0
            )

        shown = await frames.showing(table_shown)
        out["first_table_s"] = shown - started
        out["first_table_from_process_s"] = shown - PROCESS_START
        screen = app.screen
        out["first_rows"] = float(screen.result.shown)
        shown = await frames.showing(lambda: not screen.partial and screen.result is not None
                                     and screen.result.total == screen.rows.num_rows
                                     and screen.rows.num_rows > out["first_rows"])
        out["full_table_s"] = shown - started
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
            shown = await frames.showing(lambda: trace.detail is not None and trace.detail.key != before)
            times.append(shown - t0)
        out["next_s"] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("/tmp/qmr-tui-bench.duckdb"))
    parser.add_argument("--problems", type=int, default=33334, help="problems per run (x3 runs = samples)")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the fresh interpreter's part
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.db, args.presses))))
        return

    from qmr_core.browse import default_comparison, list_runs, load_trace
    from qmr_core.store import Store
    from tests.helpers.tui_store import BASE, Q3, build_large_store

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

    child = subprocess.run([sys.executable, __file__, "--measure", "--db", str(args.db), "--presses", str(args.presses)],
                           capture_output=True, text=True, cwd=REPO)
    if child.returncode:
        sys.exit(f"the measuring interpreter failed:\n{child.stderr[-3000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"imports (app, store, Textual, DuckDB, Arrow) in a fresh interpreter: {result['import_s']:.2f} s")

    comp = default_comparison(list_runs(store))
    assert comp is not None
    cold = []
    for pid in ("large/000003", "large/000010", "large/000500"):
        t0 = time.perf_counter()
        load_trace(store, BASE, Q3, pid, "hf:judge")
        cold.append(time.perf_counter() - t0)
    nxt = sorted(result["next_s"])  # type: ignore[arg-type]
    p90 = nxt[int(0.9 * (len(nxt) - 1))]
    print(f"first painted failures table: {result['first_table_s']:.3f} s after App start "
          f"(first page: {int(result['first_rows'])} lost rows)   target < 1 s")
    print(f"first painted failures table counted from the interpreter's start (imports included): "
          f"{result['first_table_from_process_s']:.3f} s")
    print(f"whole comparison loaded and painted: {result['full_table_s']:.3f} s after App start "
          f"({int(result['rows_loaded'])} comparison rows, {int(result['rows_shown'])} lost shown; "
          f"both queries took {result['load_rows_s']:.3f} s)")
    print(f"next failure (n): median {statistics.median(nxt) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
          f"max {nxt[-1] * 1000:.1f} ms over {len(nxt)} presses   target < 50 ms")
    print(f"cold trace load without the prefetch cache: median {statistics.median(cold) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
