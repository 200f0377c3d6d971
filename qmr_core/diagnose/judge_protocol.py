"""Judge protocol v2: the prompt, the verdict's JSON schema, and how a reply is read.

The trace is shown as ProcessBench shows it: paragraphs in ``<paragraph_i>`` tags, indexed from
0, and the judge names the earliest wrong paragraph, -1 when every paragraph is right. The judge
may reason first: the verdict is read from the END of the reply, after removing any
``<think>…</think>`` block (servers that split reasoning off into ``reasoning_content`` have it
put back inside such a block by the engine, so it is removed here too). The verdict is whichever
comes last of

- a JSON object with a ``first_error_step`` key (a ```json fence around it is fine), or
- ``\\boxed{i}`` with an integer index, as in ProcessBench's critique template (no type then).

In constrained mode (a JSON schema the engine enforces: llguidance in the local engine,
``response_format`` on OpenAI-compatible servers) the reply is one object whose fields come in
the order ``reasoning``, ``first_error_step`` (bounded to -1 .. n-1), ``error_type``; it is read
by the same parser. Reading never raises: anything without a usable verdict is unparsed, with
its reason, and the raw output is kept either way. Work is bounded: only the reply's last
``MAX_SCAN_CHARS`` characters are searched, with at most ``MAX_DECODE_TRIES`` JSON decodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qmr_core.diagnose.taxonomy import ERROR_TYPES, definitions_text, normalize_type

PROMPT_VERSION = "judge-v2"
MAX_FIELD_CHARS = 3000  # problem, reference solution and base trace are cut to this
MAX_STEP_CHARS = 600
MAX_STEPS_SHOWN = 60
MAX_RATIONALE = 2000
REASONING_CHARS = 400  # the constrained verdict's reasoning field, in characters
MAX_SCAN_CHARS = 20_000
MAX_DECODE_TRIES = 200

PARSE_ERRORS = ("empty", "unfinished-think", "no-verdict", "bad-step", "step-out-of-range", "unknown-type",
                "bad-rationale")


@dataclass(frozen=True)
class JudgeCase:
    problem: str
    steps: Sequence[str]
    gold: str | None = None
    reference: str | None = None
    base_trace: str | None = None
    base_correct: bool | None = None
    known_wrong: bool = True  # the final answer is known to be wrong (diagnose); False for ProcessBench


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " [...]"


def n_shown(case: JudgeCase) -> int:
    """How many paragraphs the prompt shows: the verdict's step is bounded by this."""
    return min(len(case.steps), MAX_STEPS_SHOWN)


def _context(case: JudgeCase) -> list[str]:
    parts = []
    if case.gold:
        parts += ["[Correct final answer]", "", case.gold.strip(), ""]
    if case.reference:
        parts += ["[Reference solution]", "", _cut(case.reference, MAX_FIELD_CHARS), ""]
    if case.base_trace:
        verdict = {True: " (its final answer is correct)", False: " (its final answer is also wrong)", None: ""}
        parts += [f"[Solution by the full-precision model, for comparison{verdict[case.base_correct]}]", "",
                  _cut(case.base_trace, MAX_FIELD_CHARS), ""]
    return parts


def build_prompt(case: JudgeCase, constrained: bool = False) -> str:
    shown = list(case.steps)[:MAX_STEPS_SHOWN]
    parts = [
        "The following is a math problem and a solution to it, split into paragraphs, each enclosed in tags "
        "and indexed from 0.",
        "The solution's final answer is wrong." if case.known_wrong else "The solution may be right or wrong.",
        "",
        "[Math Problem]",
        "",
        _cut(case.problem, MAX_FIELD_CHARS),
        "",
        *_context(case),
        "[Solution]",
        "",
    ]
    for i, s in enumerate(shown):
        parts += [f"<paragraph_{i}>", _cut(s, MAX_STEP_CHARS), f"</paragraph_{i}>", ""]
    if len(case.steps) > len(shown):
        parts += [f"({len(case.steps) - len(shown)} more paragraphs not shown)", ""]
    types = ", ".join(ERROR_TYPES)
    parts += [
        "Your task is to review the solution paragraph by paragraph and find the earliest paragraph that "
        "contains an error, and the type of that error:",
        definitions_text(),
        "",
    ]
    if constrained:
        parts.append(
            f'Reply with one JSON object: {{"reasoning": "<your review, at most {REASONING_CHARS} characters>", '
            f'"first_error_step": <index of the earliest wrong paragraph, or -1 if none>, '
            f'"error_type": "<one of {types}; ignored when the index is -1>"}}.'
        )
    else:
        parts += [
            "You may reason first. End your reply with your verdict as one JSON object:",
            f'{{"first_error_step": <index of the earliest wrong paragraph, or -1 if every paragraph is correct>, '
            f'"error_type": "<one of {types}>"}}',
            "(A reply that ends with the index alone in \\boxed{}, such as \\boxed{2}, is read as well.)",
        ]
    return "\n".join(parts)


def verdict_schema(n_steps: int) -> dict:
    """The JSON schema a constrained judge must follow; the step is bounded to the paragraphs shown."""
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": REASONING_CHARS},
            "first_error_step": {"type": "integer", "minimum": -1, "maximum": max(n_steps - 1, -1)},
            "error_type": {"type": "string", "enum": list(ERROR_TYPES)},  # ignored when the step is -1
        },
        "required": ["reasoning", "first_error_step", "error_type"],
        "additionalProperties": False,
    }


# -- reading a reply ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeVerdict:
    parsed: bool
    error: str | None  # why it is unparsed (one of PARSE_ERRORS)
    first_error_step: int | None  # 0-based; None = the judge found no error (or unparsed)
    error_type: str | None
    rationale: str | None
    form: str | None = None  # json | boxed: what the verdict was read from

    @property
    def located(self) -> bool:
        return self.parsed and self.first_error_step is not None


def _unparsed(reason: str) -> JudgeVerdict:
    return JudgeVerdict(False, reason, None, None, None)


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\s*\{\s*([^{}]{0,40}?)\s*\}")


def strip_reasoning(raw: str) -> str | None:
    """The reply without its reasoning block; None when a <think> block never closes."""
    text = _THINK.sub("", raw)
    low = text.lower()
    if "</think>" in low:  # the opening tag was in the prompt (some chat templates add it)
        text = text[low.rindex("</think>") + len("</think>") :]
    elif "<think>" in low:
        return None
    return text


def _last_object(text: str) -> tuple[int, int, dict] | None:
    """(start, end, object) of the last JSON object in the text that has a first_error_step key."""
    # strict=False: a raw newline inside a string is accepted; a tokenizer can decode a constrained token
    # as one (seen with SmolLM2 from GGUF), and the verdict fields are checked below anyway
    decoder = json.JSONDecoder(strict=False)
    pos = len(text)
    for _ in range(MAX_DECODE_TRIES):
        pos = text.rfind("{", 0, pos)
        if pos < 0:
            return None
        try:
            obj, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(obj, dict) and "first_error_step" in obj:
            return pos, end, obj
    return None


def _step(value: object, n_steps: int) -> int | None | str:
    """0-based step, None for 'no error', or the parse error."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return "bad-step"
    if value == -1:
        return None
    if not 0 <= value < n_steps:
        return "step-out-of-range"
    return value


_NULLS = (None, "", "none", "null", "n/a")


def _type(raw_type: object) -> str | None | bool:
    """The normalized type, None when absent, False when unknown."""
    if raw_type is None or (isinstance(raw_type, str) and raw_type.strip().lower() in _NULLS):
        return None
    if not isinstance(raw_type, str):
        return False
    return normalize_type(raw_type) or False


def parse_verdict(raw: str | None, n_steps: int) -> JudgeVerdict:
    """Read a judge reply (protocol v2); every reply without a usable verdict is unparsed with a reason."""
    if raw is None or not raw.strip():
        return _unparsed("empty")
    text = strip_reasoning(raw)
    if text is None:
        return _unparsed("unfinished-think")
    text = text[-MAX_SCAN_CHARS:]
    found = _last_object(text)
    boxes = list(_BOXED.finditer(text))
    box = boxes[-1] if boxes else None
    if found is None and box is None:
        return _unparsed("no-verdict")
    if box is not None and (found is None or box.end() > found[1]):
        step = _step(box.group(1), n_steps)
        if isinstance(step, str):
            return _unparsed(step)
        return JudgeVerdict(True, None, step, None, text[: box.start()].strip()[-MAX_RATIONALE:], "boxed")
    start, _end, obj = found  # type: ignore[misc]
    step = _step(obj["first_error_step"], n_steps)
    if isinstance(step, str):
        return _unparsed(step)
    etype = _type(obj.get("error_type"))
    if etype is False:
        return _unparsed("unknown-type")
    rationale = obj.get("reasoning", obj.get("rationale"))
    if rationale is not None and not isinstance(rationale, str):
        return _unparsed("bad-rationale")
    if not rationale:
        rationale = text[:start].strip()
    error_type = etype if step is not None and isinstance(etype, str) else None
    return JudgeVerdict(True, None, step, error_type, (rationale or "")[-MAX_RATIONALE:], "json")
