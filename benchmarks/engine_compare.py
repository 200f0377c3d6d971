"""Engines side by side on the demo workload: one table, every row measured in this one run.

Workload: the 76 bundled problems (`sample`), the steps prompt, 96 new tokens, greedy, as `qmr demo`'s
full-precision run. Rows (pick with --rows; each is one function in ROWS, so adding an engine is adding
a function):

- hf:        qmr's local transformers engine (HFEngine.generate in batches of --batch-size).
- vllm-raw:  the vLLM server alone: every prompt sent at once to /v1/completions with plain httpx,
             nothing graded or stored. The floor for anything that talks to that server.
- vllm-qmr:  qmr's --engine vllm path on the same server: the eval loop (render, stream, grade, store
             into a scratch DuckDB file), as `qmr eval --engine vllm` runs it once the server is up.

The vLLM rows share one server (started here, not timed; --dtype picks its dtype) and alternate
--repeats times; the best wall time of each is kept. "same as hf" counts outputs equal to the hf row's.
Usage: QMR_VLLM=/path/to/vllm-env/bin/python python benchmarks/engine_compare.py [--rows hf,vllm-raw,vllm-qmr]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qmr_core.benchmarks.registry import load_benchmark
from qmr_core.engines.base import Decoding
from qmr_core.benchmarks.prompts import STEPS


@dataclass
class Bench:
    args: argparse.Namespace
    problems: list = field(default_factory=list)
    server: object = None  # the shared VLLMServer, started on first use
    texts: dict[str, list[str]] = field(default_factory=dict)  # row -> outputs in problem order

    @property
    def decoding(self) -> Decoding:
        return Decoding(max_new_tokens=self.args.max_new_tokens)

    def vllm(self):
        if self.server is None:
            from qmr_core.engines.vllm_engine import model_location, vllm_model_ref
            from qmr_core.engines.vllm_server import VLLMServer, start_servers

            ref = vllm_model_ref(self.args.model)
            log = Path(tempfile.gettempdir()) / f"engine_compare-vllm-{os.getpid()}.log"
            self.server = VLLMServer(model_location(ref), ref.name, self.args.dtype, log)
            print(f"starting vLLM ({self.args.dtype}; log {log}) ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            start_servers([self.server], timeout_s=1800)
            print(f"vLLM answered /health after {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        return self.server


@dataclass
class Row:
    engine: str
    dtype: str
    seconds: float
    tokens: int
    texts: list[str]


def row_hf(bench: Bench) -> Row:
    from qmr_core.engines.hf import HFEngine
    from qmr_core.models.registry import resolve_model

    engine = HFEngine(resolve_model(bench.args.model), device="cpu", dtype="float32")
    messages = [STEPS.render(p) for p in bench.problems]
    started, gens = time.perf_counter(), []
    for i in range(0, len(messages), bench.args.batch_size):
        gens += engine.generate(messages[i:i + bench.args.batch_size], bench.decoding)
    return Row(f"qmr hf engine, batch {bench.args.batch_size}", "float32", time.perf_counter() - started,
               sum(g.n_tokens for g in gens), [g.text for g in gens])


def row_vllm_raw(bench: Bench) -> Row:
    import httpx

    from qmr_core.engines.vllm_engine import Renderer, model_location, vllm_model_ref

    server = bench.vllm()
    ref = vllm_model_ref(bench.args.model)
    render = Renderer(model_location(ref))
    bodies = [{"model": ref.name, "prompt": render(STEPS.render(p)), "max_tokens": bench.args.max_new_tokens,
               "temperature": 0.0, "add_special_tokens": not render.has_chat_template} for p in bench.problems]

    async def send_all() -> list[dict]:
        limits = httpx.Limits(max_connections=len(bodies))
        async with httpx.AsyncClient(base_url=server.url + "/", timeout=1800, limits=limits) as client:
            answers = await asyncio.gather(*(client.post("completions", json=b) for b in bodies))
        return [a.raise_for_status().json() for a in answers]

    started = time.perf_counter()
    answers = asyncio.run(send_all())
    seconds = time.perf_counter() - started
    return Row("vLLM server, raw HTTP", bench.args.dtype, seconds,
               sum(a["usage"]["completion_tokens"] for a in answers), [a["choices"][0]["text"] for a in answers])


def row_vllm_qmr(bench: Bench) -> Row:
    from qmr_core.engines.vllm_engine import (
        Renderer,
        model_location,
        vllm_client,
        vllm_engine_key,
        vllm_model_ref,
    )
    from qmr_core.generate.evaluate import execute_run, plan_run, store_problems
    from qmr_core.store import Store

    server = bench.vllm()
    ref = vllm_model_ref(bench.args.model)
    client = vllm_client(ref, Renderer(model_location(ref)), [server.url])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store_problems(store, bench.problems)
        plan = plan_run(store, ref, "sample", bench.problems, STEPS, bench.decoding, vllm_engine_key(bench.args.dtype))
        started = time.perf_counter()
        stats = execute_run(store, plan, client)
        seconds = time.perf_counter() - started
        by_id = dict(store.query("SELECT problem_id, output FROM samples"))
    client.close()
    return Row("qmr --engine vllm (stream, grade, store)", bench.args.dtype, seconds, stats.tokens,
               [by_id[p.problem_id] for p in bench.problems])


ROWS: dict[str, Callable[[Bench], Row]] = {"hf": row_hf, "vllm-raw": row_vllm_raw, "vllm-qmr": row_vllm_qmr}
REPEATED = ("vllm-raw", "vllm-qmr")  # cheap rows on the shared server: alternate and keep the best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="hf,vllm-raw,vllm-qmr")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="float32", help="vLLM rows' dtype (float32 | bfloat16)")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    names = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(names) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; known: {', '.join(ROWS)}")
    bench = Bench(args, problems=load_benchmark("sample")[: args.limit])
    results: dict[str, Row] = {}
    try:
        for name in [n for n in names if n not in REPEATED]:
            results[name] = ROWS[name](bench)
        for _ in range(args.repeats):
            for name in [n for n in names if n in REPEATED]:
                row = ROWS[name](bench)
                if name not in results or row.seconds < results[name].seconds:
                    results[name] = row
    finally:
        if bench.server is not None:
            bench.server.stop()
    print_table(results, len(bench.problems), args)


def print_table(results: dict[str, Row], n: int, args: argparse.Namespace) -> None:
    reference = results.get("hf")
    raw = results.get("vllm-raw")
    print(f"\n{n} prompts (sample, steps prompt), {args.max_new_tokens} new tokens, greedy; "
          f"host {os.uname().nodename}, {os.cpu_count()} CPUs")
    print("| engine | dtype | generation wall | tokens | tok/s | vs raw vLLM | same as hf |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        same = f"{sum(a == b for a, b in zip(row.texts, reference.texts))} / {n}" if reference and name != "hf" else "-"
        ratio = f"{row.seconds / raw.seconds:.2f}x" if raw and name.startswith("vllm") else "-"
        print(f"| {row.engine} | {row.dtype} | {row.seconds:.1f} s | {row.tokens} | {row.tokens / row.seconds:.0f} "
              f"| {ratio} | {same} |")


if __name__ == "__main__":
    main()
