"""Decode throughput of the local transformers engine on SmolLM2-135M at batch 1, 4 and 16.

Prints generated tokens per second (tokens the model really produced, EOS included, over wall time of
`HFEngine.generate`) for the step-structured prompt on the bundled problems. With --fixed-length the
model must emit exactly --max-new-tokens per sequence (min_new_tokens), which isolates the
batching gain from early stops. Usage: python benchmarks/engine_throughput.py [--batches 1,4,16]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from qmr_core.benchmarks.registry import load_benchmark
from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
from qmr_core.benchmarks.prompts import STEPS


def measure(engine: HFEngine, batch: int, max_new_tokens: int, fixed: bool, repeats: int) -> tuple[float, int, float]:
    problems = load_benchmark("sample")
    messages = [STEPS.render(p) for p in problems[:batch]]
    decoding = Decoding(max_new_tokens=max_new_tokens)
    original = engine.model.generation_config.min_new_tokens
    engine.model.generation_config.min_new_tokens = max_new_tokens if fixed else None
    try:
        engine.generate(messages[:1], Decoding(max_new_tokens=4))  # warm-up
        best = 0.0
        tokens = 0
        seconds = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            gens = engine.generate(messages, decoding)
            elapsed = time.perf_counter() - t0
            n = sum(g.n_tokens for g in gens)
            if n / elapsed > best:
                best, tokens, seconds = n / elapsed, n, elapsed
        return best, tokens, seconds
    finally:
        engine.model.generation_config.min_new_tokens = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batches", default="1,4,16")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fixed-length", action="store_true", help="force every sequence to max-new-tokens")
    args = parser.parse_args()
    engine = HFEngine(resolve_model(args.model))
    print(f"model {args.model}  device {engine.device}  dtype {engine.torch_dtype}  torch threads {torch.get_num_threads()}  "
          f"cpus {os.cpu_count()}  max_new_tokens {args.max_new_tokens}  fixed_length {args.fixed_length}")
    results = {}
    print(f"{'batch':>5} {'tokens':>7} {'seconds':>8} {'tok/s':>8} {'vs b1':>6}")
    for b in (int(x) for x in args.batches.split(",")):
        tps, tokens, seconds = measure(engine, b, args.max_new_tokens, args.fixed_length, args.repeats)
        results[b] = tps
        base = results.get(1)
        print(f"{b:>5} {tokens:>7} {seconds:>8.2f} {tps:>8.1f} {tps / base if base else float('nan'):>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
