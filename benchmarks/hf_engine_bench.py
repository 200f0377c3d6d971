"""The local HF engine on the demo workload: `model.generate` on padded batches with stock sdpa (the engine
before issue 15, `HFEngine(fast_greedy=False)`) against the fast greedy path (shared-prefix KV cache, finished
rows dropped, grouped-query attention without K/V copies), in one process, interleaved.

The workload is the demo's full-precision run: the 76 bundled problems with the steps prompt, ordered and
batched as `qmr eval` does (longest problem first, --batch-size 16), 96 new tokens, greedy. Each batch is run
by both paths back to back, alternating which goes first, so a busy machine slows both alike. Prints wall
time, generated tokens/s and how many outputs are identical (text, token count, finish reason); with --store
it also counts the fast path's outputs equal to a stored run's (e.g. a demo store made by older code).

`measure_hf(...)` returns the rows, for benchmarks/engine_compare.py to import.
Usage: OMP_NUM_THREADS=1 python benchmarks/hf_engine_bench.py [--limit N] [--also-dtype bfloat16] [--store DB --run RUN]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from qmr_core.benchmarks.registry import load_benchmark
from qmr_core.engines.base import Decoding, Generation
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
from qmr_core.benchmarks.prompts import STEPS, Messages


@dataclass
class EngineRow:
    engine: str
    dtype: str
    seconds: float = 0.0
    tokens: int = 0
    outputs: list[Generation] = field(default_factory=list)
    identical: str = "-"

    @property
    def tok_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def demo_batches(limit: int | None, batch_size: int) -> list[list[Messages]]:
    """The demo's prompts in `execute_run`'s order and batching."""
    problems = load_benchmark("sample")[:limit]
    problems = sorted(problems, key=lambda p: len(p.problem), reverse=True)
    messages = [STEPS.render(p) for p in problems]
    return [messages[i : i + batch_size] for i in range(0, len(messages), batch_size)]


def continuous_batching(engine: HFEngine):
    """transformers' own continuous batching (`generate_batch`: paged attention, prefix sharing in 16-token
    blocks) on one batch, returned as the engine's Generations, for comparison."""
    from transformers import GenerationConfig
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    def run(batch: list[Messages], decoding: Decoding) -> list[Generation]:
        prompts = [engine.render(m) for m in batch]
        rows = [engine.tokenizer(p, add_special_tokens=not engine.has_chat_template).input_ids for p in prompts]
        config = GenerationConfig(max_new_tokens=decoding.max_new_tokens, do_sample=False,
                                  eos_token_id=engine.eos_ids, pad_token_id=engine.tokenizer.pad_token_id)
        started = time.perf_counter()
        out = engine.model.generate_batch(rows, generation_config=config, warmup=False,
                                          continuous_batching_config=ContinuousBatchingConfig(block_size=16))
        done = time.perf_counter()
        ordered = [out[k] for k in sorted(out, key=lambda k: int(k.rsplit("_", 1)[-1]))]
        return [engine._result(p, len(r), o.generated_tokens, started, done)
                for p, r, o in zip(prompts, rows, ordered, strict=True)]

    return run


def _same(a: Generation, b: Generation) -> bool:
    return (a.text, a.n_tokens, a.finish_reason) == (b.text, b.n_tokens, b.finish_reason)


def measure_hf(
    model: str = "smollm2-135m", limit: int | None = None, batch_size: int = 16, max_new_tokens: int = 96,
    dtype: str = "float32", device: str = "cpu", extra_dtypes: tuple[str, ...] = (), progress: bool = False,
    with_cb: bool = False,
) -> list[EngineRow]:
    """Rows for `model.generate` (padded) and the fast path at `dtype`, then the fast path at each of
    `extra_dtypes`, measured batch by batch, interleaved; "identical" counts agreement with the first row."""
    before = HFEngine(resolve_model(model), device=device, dtype=dtype, fast_greedy=False)
    engine = HFEngine(resolve_model(model), device=device, dtype=dtype)
    label = engine.describe()["dtype"]
    runs = [
        (EngineRow("qmr hf before: generate, padded batches", label), before.generate),
        (EngineRow("qmr hf: shared prefix, finished rows dropped", label), engine.generate),
    ]
    if with_cb:
        cb_engine = HFEngine(resolve_model(model), device=device, dtype=dtype, fast_greedy=False)
        runs.append((EngineRow("transformers continuous batching (generate_batch)", label), continuous_batching(cb_engine)))
    for extra in extra_dtypes:
        other = HFEngine(resolve_model(model), device=device, dtype=extra)
        runs.append((EngineRow("qmr hf: shared prefix, finished rows dropped", other.describe()["dtype"]), other.generate))
    decoding = Decoding(max_new_tokens=max_new_tokens)
    for _, run in runs:
        run(demo_batches(1, 1)[0], Decoding(max_new_tokens=2))  # warm-up
    batches = demo_batches(limit, batch_size)
    for i, batch in enumerate(batches):
        for row, run in runs[i % len(runs) :] + runs[: i % len(runs)]:  # rotate who goes first
            t0 = time.perf_counter()
            gens = run(batch, decoding)
            row.seconds += time.perf_counter() - t0
            row.tokens += sum(g.n_tokens for g in gens)
            row.outputs += gens
        if progress:
            print(f"batch {i + 1}/{len(batches)}: " + ", ".join(f"{r.seconds:.1f}s" for r, _ in runs), file=sys.stderr)
    reference = runs[0][0].outputs
    for row, _ in runs[1:]:
        same = sum(_same(a, b) for a, b in zip(reference, row.outputs, strict=True))
        row.identical = f"{same}/{len(reference)}"
    return [row for row, _ in runs]


def stored_matches(rows: list[EngineRow], store_path: str, run_id: str) -> str:
    """How many of the fast path's outputs equal the stored run's, matched on the exact prompt."""
    from pathlib import Path

    from qmr_core.store import Store

    stored = Store(Path(store_path)).query(
        "SELECT prompt, output, n_tokens, finish_reason FROM samples WHERE run_id = ?", [run_id]
    )
    by_prompt = {p: (o, n, f) for p, o, n, f in stored}
    fast = rows[1].outputs
    found = [g for g in fast if g.prompt in by_prompt]
    same = sum(by_prompt[g.prompt] == (g.text, g.n_tokens, g.finish_reason) for g in found)
    return f"{same}/{len(found)} (of {len(stored)} stored)"


def print_table(rows: list[EngineRow]) -> None:
    print(f"{'engine':<52} {'dtype':<8} {'wall s':>8} {'tokens':>7} {'tok/s':>7}  identical to generate")
    for r in rows:
        print(f"{r.engine:<52} {r.dtype:<8} {r.seconds:>8.1f} {r.tokens:>7} {r.tok_s:>7.1f}  {r.identical}")
    for r in rows[1:]:
        print(f"wall-time speed-up over the engine before: {rows[0].seconds / r.seconds:.2f}x  {r.engine}, {r.dtype}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--also-dtype", action="append", default=[], help="add a fast-path row at this dtype (e.g. bfloat16)")
    ap.add_argument("--with-cb", action="store_true", help="add a row for transformers' generate_batch")
    ap.add_argument("--store", help="a store holding a full-precision run of these prompts")
    ap.add_argument("--run", help="that run's id")
    args = ap.parse_args()
    rows = measure_hf(args.model, args.limit, args.batch_size, args.max_new_tokens, args.dtype, args.device,
                      tuple(args.also_dtype), progress=True, with_cb=args.with_cb)
    print_table(rows)
    if args.store and args.run:
        print(f"fast path equal to stored run {args.run}: {stored_matches(rows, args.store, args.run)}")


if __name__ == "__main__":
    main()
