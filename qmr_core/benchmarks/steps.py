"""Split a reasoning trace into steps, keeping each step's character span in the original text.

Order of preference: explicit "Step k:" tags (the format qmr asks for), else blank-line paragraphs,
else sentences. The chosen method is recorded, so format compliance can be reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "Step 3:", "**Step 3:**", "### Step 3.", "Step 3 -" at the start of a line.
_STEP_TAG = re.compile(r"(?im)^[ \t]*(?:[#>*_ \t]*)step[ \t]*(\d{1,4})[ \t]*(?:\*\*)?[ \t]*[:.)\-–]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
# A sentence ends at . ! ? followed by whitespace, not inside a number such as 3.5.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$(])")
MAX_STEPS = 400  # bound the work on degenerate, repetitive outputs


@dataclass(frozen=True)
class Step:
    idx: int  # 0-based position in the trace
    text: str
    start: int  # character span in the output: output[start:end] contains text
    end: int


@dataclass(frozen=True)
class StepSplit:
    steps: list[Step]
    method: str  # "tagged" | "paragraph" | "sentence" | "empty"

    @property
    def follows_format(self) -> bool:
        return self.method == "tagged"


def _spans_to_steps(text: str, bounds: list[tuple[int, int]]) -> list[Step]:
    steps: list[Step] = []
    for start, end in bounds:
        chunk = text[start:end]
        stripped = chunk.strip()
        if not stripped:
            continue
        lead = len(chunk) - len(chunk.lstrip())
        s = start + lead
        steps.append(Step(len(steps), stripped, s, s + len(stripped)))
        if len(steps) >= MAX_STEPS:
            break
    return steps


def _split_on(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    bounds, pos = [], 0
    for m in pattern.finditer(text):
        bounds.append((pos, m.start()))
        pos = m.end()
        if len(bounds) > MAX_STEPS:
            break
    bounds.append((pos, len(text)))
    return bounds


def split_steps(text: str) -> StepSplit:
    if not text or not text.strip():
        return StepSplit([], "empty")
    tags = list(_STEP_TAG.finditer(text))
    if tags:
        bounds: list[tuple[int, int]] = []
        if text[: tags[0].start()].strip():
            bounds.append((0, tags[0].start()))  # preamble before "Step 1:" is kept as its own step
        for i, m in enumerate(tags[:MAX_STEPS]):
            end = tags[i + 1].start() if i + 1 < len(tags) else len(text)
            bounds.append((m.start(), end))
        return StepSplit(_spans_to_steps(text, bounds), "tagged")
    paragraphs = _spans_to_steps(text, _split_on(_PARAGRAPH_BREAK, text))
    if len(paragraphs) > 1:
        return StepSplit(paragraphs, "paragraph")
    return StepSplit(_spans_to_steps(text, _split_on(_SENTENCE_END, text)), "sentence")
