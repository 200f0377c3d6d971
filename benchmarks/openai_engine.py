"""Throughput of the OpenAI-compatible engine against a running server, by concurrency and batch size.

Prints completion tokens per second (from the server's `usage`) and requests per second over the wall
time of `OpenAIEngine.generate`, for each concurrency, with batches of 2x and 8x the concurrency:
the gap between the two shows what the batch boundary costs (a batch waits for its slowest request).

Usage:
  python benchmarks/openai_engine.py --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct \
      --concurrency 1,8,32 --requests 64 --max-new-tokens 256
Without a server at hand: `transformers serve PATH --port 8000` (pip install 'qmr[serve]').
"""

from __future__ import annotations

import argparse
import time

from qmr_core.benchmarks.registry import load_benchmark
from qmr_core.engines import build_engine, model_ref_for
from qmr_core.engines.base import Decoding
from qmr_core.benchmarks.prompts import STEPS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", default="1,4,8")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--benchmark", default="sample")
    args = ap.parse_args()

    problems = load_benchmark(args.benchmark)
    messages = [STEPS.render(problems[i % len(problems)]) for i in range(args.requests)]
    decoding = Decoding(max_new_tokens=args.max_new_tokens)
    ref = model_ref_for("openai", args.model)
    print(f"server {args.base_url}, model {args.model}, {args.requests} requests, max_new_tokens {args.max_new_tokens}")
    print(f"{'concurrency':>11} {'batch':>6} {'tok/s':>9} {'req/s':>7} {'mean latency s':>15}")
    for conc in (int(c) for c in args.concurrency.split(",")):
        engine = build_engine("openai", ref, options={"base_url": args.base_url, "concurrency": conc})
        try:
            engine.generate(messages[:1], Decoding(max_new_tokens=4))  # warm-up
            for batch in (2 * conc, 8 * conc):
                t0 = time.perf_counter()
                gens = []
                for start in range(0, len(messages), batch):
                    gens += engine.generate(messages[start : start + batch], decoding)
                wall = time.perf_counter() - t0
                tokens = sum(g.n_tokens for g in gens)
                latency = sum(g.latency_ms for g in gens) / len(gens) / 1000
                print(f"{conc:>11} {batch:>6} {tokens / wall:>9.1f} {len(gens) / wall:>7.2f} {latency:>15.2f}")
        finally:
            engine.close()


if __name__ == "__main__":
    main()
