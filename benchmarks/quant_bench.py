"""Quantization cost per method and backend on SmolLM2-135M: wall time, peak RSS, size, layer error, decode speed.

Each cell runs `qmr quantize` in a fresh process (so peak RSS is that cell's alone), one after the
other, then loads the checkpoint the way `qmr eval` does and times greedy decoding at batch 1.

    python benchmarks/quant_bench.py                       # every method on both backends
    python benchmarks/quant_bench.py --cells llmcompressor:gptq,gptqmodel:gptq --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS = [
    ("llmcompressor", "rtn", 4),
    ("llmcompressor", "gptq", 4),
    ("llmcompressor", "awq", 4),
    ("llmcompressor", "smoothquant", 8),
    ("gptqmodel", "rtn", 4),
    ("gptqmodel", "gptq", 4),
    ("gptqmodel", "awq", 4),
]

DECODE = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
from qmr_core.engines.base import Decoding
from qmr_core.engines.hf import HFEngine
from qmr_core.models.registry import resolve_model
t0 = time.perf_counter()
engine = HFEngine(resolve_model(sys.argv[1]), device="cpu")
load = time.perf_counter() - t0
msgs = [[{"role": "user", "content": "What is 12*7? Put the final answer in \\\\boxed{}."}]]
engine.generate(msgs, Decoding(max_new_tokens=4))  # warm-up (kernel selection, compilation)
gen = engine.generate(msgs, Decoding(max_new_tokens=int(sys.argv[2])))[0]
print(json.dumps({"load_s": load, "tok_s": gen.n_tokens / (gen.latency_ms / 1000), "text": gen.text[:60]}))
"""


def run_cell(backend: str, method: str, bits: int, args: argparse.Namespace, work: Path) -> dict:
    out = work / f"smollm2-{method}-w{bits}-{backend}"
    db = work / "bench.duckdb"
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, "-m", "qmr_core.cli", "quantize", "--model", args.model, "--method", method, "--bits", str(bits),
           "--backend", backend, "--calib", args.calib, "--n-samples", str(args.n_samples), "--seq-len", str(args.seq_len),
           "--out", str(out), "--db", str(db), "--force"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        return {"backend": backend, "method": method, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1]}
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    row = con.execute(
        "SELECT quant_seconds, peak_rss_bytes, size_bytes, config_json, layer_errors_json, group_size FROM models "
        "WHERE source = ?", [str(out.resolve())]
    ).fetchone()
    con.close()
    errors = list(json.loads(row[4]).values())
    result = {
        "backend": backend, "method": method, "bits": bits, "group": row[5], "quant_s": row[0], "process_wall_s": wall,
        "peak_rss_gib": row[1] / 2**30, "weights_mib": json.loads(row[3])["weights_bytes"] / 2**20,
        "disk_mib": row[2] / 2**20, "mean_layer_err": sum(errors) / len(errors) if errors else None, "n_err": len(errors),
    }
    if args.decode_tokens:
        dec = subprocess.run([sys.executable, "-c", DECODE, str(out), str(args.decode_tokens), str(args.threads)],
                             env=env, capture_output=True, text=True)
        lines = [ln for ln in dec.stdout.splitlines() if ln.startswith("{")]
        result.update(json.loads(lines[-1]) if lines else {"decode_error": dec.stderr.strip().splitlines()[-1:]})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--cells", default="", help="comma list of backend:method (default: all)")
    parser.add_argument("--calib", default="math")
    parser.add_argument("--n-samples", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads (1 when the CPU is shared)")
    parser.add_argument("--decode-tokens", type=int, default=48, help="0 skips the decode-speed check")
    parser.add_argument("--keep", type=Path, default=None, help="keep the checkpoints in this folder")
    args = parser.parse_args()
    wanted = {tuple(c.split(":")) for c in args.cells.split(",") if c}
    cells = [c for c in CELLS if not wanted or (c[0], c[1]) in wanted]
    work = args.keep or Path(tempfile.mkdtemp(prefix="qmr-quant-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"model {args.model}, calib {args.calib} x{args.n_samples} @ {args.seq_len} tokens, {args.threads} thread(s), load avg {os.getloadavg()[0]:.1f}")
    header = f"{'backend':<14}{'method':<12}{'w':>2}{'g':>4}{'quant s':>9}{'proc s':>8}{'RSS GiB':>9}{'weights MiB':>12}{'disk MiB':>10}{'layer err':>10}{'tok/s':>7}"
    print(header)
    for backend, method, bits in cells:
        r = run_cell(backend, method, bits, args, work)
        if "error" in r:
            print(f"{backend:<14}{method:<12}{bits:>2}  failed: {r['error']}", flush=True)
            continue
        err = f"{r['mean_layer_err']:.2%}" if r["mean_layer_err"] is not None else "-"
        tok = f"{r['tok_s']:.1f}" if "tok_s" in r else "-"
        print(f"{backend:<14}{method:<12}{bits:>2}{r['group']:>4}{r['quant_s']:>9.1f}{r['process_wall_s']:>8.1f}{r['peak_rss_gib']:>9.2f}"
              f"{r['weights_mib']:>12.1f}{r['disk_mib']:>10.1f}{err:>10}{tok:>7}   {r.get('text', '')!r}", flush=True)
    print(f"load avg after: {os.getloadavg()[0]:.1f}; checkpoints in {work}")


if __name__ == "__main__":
    main()
