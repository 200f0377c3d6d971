"""Compare qmr's grader with public MATH graders on hand-labelled pairs and on throughput.

    python benchmarks/grader_bench.py [--pairs tests/data/grader_pairs.jsonl]
                                      [--math500 /work/shared/data/math500.jsonl]
                                      [--lmeval-python /path/to/python]

Graders (each used exactly as its package ships it; nothing is re-implemented):
  qmr                  qmr_core.grading (this repo)
  math-verify          verify(parse(gold), parse(pred)) on the raw strings
  math-verify ($..$)   the same with both strings wrapped in $...$ (its documented input form)
  mathruler            mathruler.grader.grade_answer (PRM800K/Hendrycks-style), if installed
  lm-eval minerva      lm_eval minerva_math is_equiv(normalize_final_answer(.)), run in a separate
                       interpreter (--lmeval-python or $QMR_BENCH_LMEVAL_PYTHON) because it needs
                       antlr4 4.11 while this project pins 4.13.2
Qwen2.5-Math's math_equal is not distributed as a package, so it is not run; its known
weaknesses are covered by labelled pairs instead.

A pair may carry the problem text ("problem": qmr reads its rounding request) and may be a whole
model output ("output": true, with "finish_reason"): qmr then extracts the answer itself, the
other graders get the same strings they always get (they take no problem text or finish reason).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qmr_core.grading import GRADER_VERSION, clear_cache, grade, rounding_request  # noqa: E402
from qmr_core.grading.bounded import pool  # noqa: E402
from qmr_core.grading.equivalence import check  # noqa: E402

DEFAULT_PAIRS = ROOT / "tests" / "data" / "grader_pairs.jsonl"
DEFAULT_MATH500 = ROOT.parent / "shared" / "data" / "math500.jsonl"

Grader = Callable[[str, str, str], bool]

_LMEVAL_SCRIPT = r"""
import importlib.util, json, os, sys, logging
logging.disable(logging.CRITICAL)
spec = importlib.util.find_spec("lm_eval")
path = os.path.join(os.path.dirname(spec.origin), "tasks", "minerva_math", "utils.py")
s = importlib.util.spec_from_file_location("minerva_utils", path)
m = importlib.util.module_from_spec(s); s.loader.exec_module(m)
pairs = json.load(sys.stdin)
out = []
for g, p in pairs:
    try:
        out.append(bool(m.is_equiv(m.normalize_final_answer(p), m.normalize_final_answer(g))))
    except Exception:
        out.append(False)
print(json.dumps(out))
"""


def qmr_grader(gold: str, pred: str, bench: str) -> bool:
    return check(gold, pred, bench)[0]


def qmr_pair(p: dict) -> bool:
    """qmr with what a pair carries beyond (gold, pred): the problem text (its rounding request) and, for
    a pair whose pred is a whole model output ("output": true), extraction and the finish reason."""
    if p.get("output"):
        return grade(p["gold"], p["pred"], p["benchmark"], problem=p.get("problem"),
                     finish_reason=p.get("finish_reason")).correct
    return check(p["gold"], p["pred"], p["benchmark"], rounding_request(p.get("problem")))[0]


def math_verify_graders() -> dict[str, Grader]:
    try:
        from math_verify import parse, verify
    except ImportError:
        return {}
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    def raw(gold: str, pred: str, bench: str) -> bool:
        return bool(verify(parse(gold), parse(pred)))

    def dollars(gold: str, pred: str, bench: str) -> bool:
        return bool(verify(parse(f"${gold}$"), parse(f"${pred}$")))

    return {"math-verify": raw, "math-verify ($..$)": dollars}


def mathruler_grader() -> dict[str, Grader]:
    try:
        from mathruler.grader import grade_answer
    except ImportError:
        return {}
    return {"mathruler": lambda gold, pred, bench: bool(grade_answer(pred, gold))}


def lmeval_batch(python: str | None, pairs: list[tuple[str, str]]) -> list[bool] | None:
    if not python:
        return None
    try:
        proc = subprocess.run(
            [python, "-c", _LMEVAL_SCRIPT], input=json.dumps(pairs), capture_output=True, text=True, timeout=1800
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception as e:  # the optional grader is missing or broken
        print(f"(lm-eval minerva unavailable: {type(e).__name__})")
        return None


def safe(grader: Grader, gold: str, pred: str, bench: str) -> bool:
    try:
        return grader(gold, pred, bench)
    except Exception:
        return False


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def rewrites(gold: str) -> list[str]:
    """Meaning-preserving rewrites of a MATH-500 gold."""
    out = [f"\\boxed{{{gold}}}", re.sub(r"\\frac(?![a-zA-Z])", r"\\dfrac", gold)]
    out.append(re.sub(r"\s*([+=])\s*", r" \1 ", re.sub(r",(?!\d{3}(?!\d))\s*", ", ", gold)))
    if not re.search(r"=|\\in|<|>|\\le|\\ge|\\text", gold):
        out.append(f"x = {gold}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    ap.add_argument("--math500", type=Path, default=DEFAULT_MATH500)
    ap.add_argument("--lmeval-python", default=os.environ.get("QMR_BENCH_LMEVAL_PYTHON"))
    ap.add_argument("--show-errors", action="store_true", help="list every error of every grader")
    args = ap.parse_args()

    graders: dict[str, Grader] = {"qmr": qmr_grader, **math_verify_graders(), **mathruler_grader()}
    pairs = [json.loads(line) for line in args.pairs.open(encoding="utf-8")]
    print(f"qmr grader {GRADER_VERSION}; {len(pairs)} labelled pairs from {args.pairs.name}\n")
    pool().warm()

    verdicts: dict[str, list[bool]] = {}
    speed: dict[str, float] = {}
    clear_cache()
    for name, g in graders.items():
        t0 = time.perf_counter()
        if name == "qmr":
            verdicts[name] = [safe(lambda *_a, p=p: qmr_pair(p), "", "", "") for p in pairs]
        else:
            verdicts[name] = [safe(g, p["gold"], p["pred"], p["benchmark"]) for p in pairs]
        speed[name] = len(pairs) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    lm = lmeval_batch(args.lmeval_python, [(p["gold"], p["pred"]) for p in pairs])
    if lm is not None:
        verdicts["lm-eval minerva"] = lm
        speed["lm-eval minerva"] = len(pairs) / (time.perf_counter() - t0)

    policy = [p["reason"].startswith("policy") for p in pairs]
    rows = []
    for name, vs in verdicts.items():
        fp = sum(v and not p["expected"] for v, p in zip(vs, pairs))
        fn = sum(p["expected"] and not v for v, p in zip(vs, pairs))
        plain = sum(v != p["expected"] for v, p, pol in zip(vs, pairs, policy) if not pol)
        acc = 1 - (fp + fn) / len(pairs)
        rows.append([name, f"{acc:.1%}", str(fp + fn), str(fp), str(fn), str(plain), f"{speed[name]:,.0f}"])
    print("Pair set (FP = accepted a wrong answer, FN = rejected a right one; 'non-policy' leaves out")
    print(f"the {sum(policy)} pairs whose label is a stated policy choice; pairs/s cold, symbolic checks included)")
    print(table(["grader", "accuracy", "errors", "FP", "FN", "non-policy errors", "pairs/s"], rows))

    classes = sorted({p["class"] for p in pairs})
    crow = []
    for c in classes:
        idx = [i for i, p in enumerate(pairs) if p["class"] == c]
        crow.append([c, str(len(idx))] + [
            str(sum(verdicts[n][i] != pairs[i]["expected"] for i in idx)) for n in verdicts
        ])
    print("\nErrors per class")
    print(table(["class", "pairs", *verdicts], crow))

    for name, vs in verdicts.items():
        errs = [(p, v) for v, p in zip(vs, pairs) if v != p["expected"]]
        if name != "qmr" and not args.show_errors:
            continue
        print(f"\n{name} errors: {len(errs)}")
        for p, v in errs:
            print(f"  [{p['class']}] gold={p['gold']!r} pred={p['pred']!r} expected={p['expected']} got={v}")

    if args.math500.exists():
        golds = [json.loads(line)["answer"] for line in args.math500.open(encoding="utf-8")]
        tp = [(g, r) for g in golds for r in rewrites(g)]
        print(f"\nThroughput: {len(tp)} pairs = {len(golds)} MATH-500 golds x rewritten forms "
              "(\\boxed, \\dfrac, spacing, 'x = ' prefix); qmr cache cleared first")
        trow = []
        for name, g in graders.items():
            if name == "qmr":
                clear_cache()
            t0 = time.perf_counter()
            ok = sum(safe(g, gold, pred, "math") for gold, pred in tp)
            dt = time.perf_counter() - t0
            trow.append([name, f"{len(tp) / dt:,.0f}", f"{ok}/{len(tp)}", f"{dt:.1f}"])
        t0 = time.perf_counter()
        lm = lmeval_batch(args.lmeval_python, tp)
        if lm is not None:
            dt = time.perf_counter() - t0
            trow.append(["lm-eval minerva*", f"{len(tp) / dt:,.0f}", f"{sum(lm)}/{len(tp)}", f"{dt:.1f}"])
        print(table(["grader", "pairs/s", "judged equal", "seconds"], trow))
        if lm is not None:
            print("* includes starting its interpreter")
    else:
        print(f"\n{args.math500} missing: throughput skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
