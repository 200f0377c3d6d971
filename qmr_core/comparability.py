"""Can two runs be compared problem by problem? Warnings for what changes outputs, notes for the rest.

A paired comparison is only about quantization when both models saw the same text and decoded it the
same way. What the models saw is compared on the rendered prompts stored with every sample, not on the
template names or recipes (an imported lm-eval run and a native run can render identical prompts from
different recipes). Of the decoding settings only those that change an output are warnings: temperature,
top-p, the token budget and the sampling seed. Anything else that differs (a stop list, the number of
samples, engine details) is a note.
"""

from __future__ import annotations

import json
from typing import Any

from qmr_core.store import Store
from qmr_core.store.imports import paired_prompt_counts
from qmr_core.store.records import RunIdentity

OUTPUT_DECODING_KEYS = ("temperature", "top_p", "max_new_tokens", "seed")


def _decoding(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _effective(decoding: dict[str, Any]) -> dict[str, Any]:
    """The settings that change an output; top-p and seed do not matter to greedy decoding."""
    greedy = not float(decoding.get("temperature") or 0.0) > 0.0
    out = {k: decoding.get(k) for k in OUTPUT_DECODING_KEYS}
    out["temperature"] = 0.0 if greedy else float(decoding["temperature"])
    if greedy or out["top_p"] in (None, 1, 1.0):
        out["top_p"] = None if greedy else 1.0
    if greedy:
        out["seed"] = None
    return out


def decoding_differences(base_json: str | None, quant_json: str | None) -> tuple[list[str], list[str]]:
    """(warnings, notes) about two runs' decoding settings."""
    base, quant = _decoding(base_json), _decoding(quant_json)
    eb, eq = _effective(base), _effective(quant)
    warnings = [f"decoding differs in {k}: {eb[k]} vs {eq[k]}" for k in OUTPUT_DECODING_KEYS if eb[k] != eq[k]]
    other = sorted(k for k in set(base) | set(quant) if k not in OUTPUT_DECODING_KEYS and base.get(k) != quant.get(k))
    notes = [f"decoding setting {k} differs ({base.get(k)!r} vs {quant.get(k)!r}); it does not change outputs here"
             for k in other]
    return warnings, notes


def prompt_differences(store: Store, base: RunIdentity, quant: RunIdentity, problem_ids: list[str]) -> tuple[list[str], list[str]]:
    """(warnings, notes) from the rendered prompts of the paired problems (first sample of each)."""
    known, differ = paired_prompt_counts(store, base.run_id, quant.run_id, problem_ids)
    same_recipe = base.prompt_text == quant.prompt_text
    if known == 0:
        if same_recipe:
            return [], []
        return ["the runs used different prompt templates and store no rendered prompts to check: "
                "differences may not be due to quantization alone"], []
    warnings: list[str] = []
    notes: list[str] = []
    if differ:
        warnings.append(f"the runs used different prompts on {differ} of {known} paired problems: "
                        "differences are not due to quantization alone")
    elif not same_recipe:
        notes.append(f"the prompt templates are named differently, but the rendered prompts of all {known} paired "
                     "problems are identical")
    unknown = len(problem_ids) - known
    if unknown:
        notes.append(f"{unknown} paired problems have no stored prompt on one side: not checked")
    return warnings, notes


def comparability(store: Store, base: RunIdentity, quant: RunIdentity, problem_ids: list[str]) -> tuple[list[str], list[str]]:
    """(warnings, notes) for pairing `quant` against `base` on `problem_ids`."""
    warnings: list[str] = []
    notes: list[str] = []
    if base.benchmark != quant.benchmark:
        warnings.append(f"benchmarks differ ({base.benchmark} vs {quant.benchmark}): only shared problem ids are paired")
    for w, n in (prompt_differences(store, base, quant, problem_ids),
                 decoding_differences(base.decoding_json, quant.decoding_json)):
        warnings += w
        notes += n
    if base.engine != quant.engine:
        notes.append(f"engines differ ({base.engine} vs {quant.engine})")
    return warnings, notes
