"""Speed of `qmr sensitivity`: seconds per configuration with cached-layer replay vs full forward passes.

Scores T traces (the bundled problems' reference solutions, used here only as text of realistic length)
of up to --max-tokens output tokens under SmolLM2-135M (or --model), for a cell in the first, middle and
last layer, and prints seconds per configuration for both paths, plus the projected time of the default
analysis (cells + layers + kinds + whole model).

Example: OMP_NUM_THREADS=1 python benchmarks/sensitivity_bench.py --traces 8 --max-tokens 256
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qmr_core.sensitivity import layers as sens  # noqa: E402
from qmr_core.sensitivity.quantizers import RTNQuantizer  # noqa: E402
from qmr_core.sensitivity.traces import Trace, encode_traces  # noqa: E402
from qmr_core.engines.hf import HFEngine  # noqa: E402
from qmr_core.models.registry import resolve_model  # noqa: E402
from qmr_core.benchmarks.prompts import get_template  # noqa: E402
from qmr_core.quant.rtn import RTNSpec, choose_group_size  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--traces", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--bits", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    engine = HFEngine(resolve_model(args.model), device="cpu")
    template = get_template("steps")
    rows = [json.loads(line) for line in (REPO / "data" / "sample_math.jsonl").read_text().splitlines()]
    rows = [r for r in rows if len(r.get("solution", "")) > 200][: args.traces]
    traces = [Trace(r["unique_id"], engine.render(template.render(r["problem"])), r["solution"]) for r in rows]
    enc = encode_traces(engine.tokenizer, traces, args.max_tokens)
    layout = sens.model_layout(engine.model)
    quantizer = RTNQuantizer(RTNSpec(args.bits, choose_group_size(engine.model)))
    started = time.perf_counter()
    meter = sens.Sensitivity(engine.model, layout, enc, quantizer)
    setup = time.perf_counter() - started
    n = len(layout.layers)
    print(f"{args.model}: {n} layers, {len(layout.kinds)} module kinds, {len(traces)} traces, "
          f"{enc.n_tokens} scored tokens, {enc.input_ids.numel()} tokens in the batch")
    print(f"setup (fp forward + cache + replay check): {setup:.2f} s; replay max |logit diff| {meter.replay_diff:.2e}")
    per_path: dict[str, list[float]] = {}
    for replay in (True, False):
        meter.replay = replay
        times = []
        for layer in (0, n // 2, n - 1):
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                meter.measure(sens.Config(layer, "q_proj"))
                times.append(time.perf_counter() - t0)
        per_path["replay" if replay else "full"] = times
        print(f"{'replay' if replay else 'full forward':>12}: median {statistics.median(times):.2f} s per cell "
              f"(first/middle/last layer: {', '.join(f'{t:.2f}' for t in times[:: args.repeat])})")
    n_configs = len(sens.configurations(layout, sens.SCOPES))
    for name, times in per_path.items():
        print(f"default analysis ({n_configs} configurations), {name}: ~{n_configs * statistics.mean(times) / 60:.1f} min")


if __name__ == "__main__":
    main()
