"""The Problem record and how one benchmark row (MATH or GSM8K layout) becomes one.

Below every loader: `benchmarks` (files and the registry) and `hf_datasets` (the hub) both build Problems here.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

@dataclass(frozen=True)
class Problem:
    problem_id: str  # "<benchmark>/<unique_id>", unique across the store
    benchmark: str
    unique_id: str
    problem: str
    answer: str
    solution: str = ""
    subject: str = ""
    level: int | None = None
    kind: str = "math"  # answer style for grading: "math" (LaTeX, boxed) or "gsm8k" (a number)

    def content_hash(self) -> str:
        payload = json.dumps([self.problem, self.answer, self.solution], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def as_row(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> "Problem":
        """A problem from its `problems` table row (NULL solution / subject read as empty)."""
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        return cls(**{**fields, "solution": row.get("solution") or "", "subject": row.get("subject") or ""})


@dataclass
class LoadReport:
    """What a load skipped, so callers can show it without losing the good rows."""

    source: str
    n_rows: int = 0
    skipped: list[str] = field(default_factory=list)


ERRATA: dict[str, tuple[str, str]] = {
    "test/prealgebra/177.json": ("the correct answer as we normally do", "6"),
}

_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)
_LEVEL = re.compile(r"^\s*(?:level\s*)?([1-5])\s*$", re.I)


def parse_level(value: object) -> int | None:
    """MATH writes levels as "Level 3", MATH-500 as 3; a few MATH rows say "Level ?"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 5 else None
    m = _LEVEL.match(str(value))
    return int(m.group(1)) if m else None


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} in a reference solution, nested braces matched."""
    start = text.rfind("\\boxed")
    while start != -1:
        i = start + len("\\boxed")
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j].strip()
                j += 1
        start = text.rfind("\\boxed", 0, start)
    return None


def _problem_id(benchmark: str, unique_id: str) -> str:
    return unique_id if unique_id.startswith(f"{benchmark}/") else f"{benchmark}/{unique_id}"


def row_to_problem(row: dict, benchmark: str, line_no: int) -> Problem:
    if not isinstance(row, dict):
        raise ValueError("row is not a JSON object")
    if "question" in row and "problem" not in row:  # GSM8K layout
        question, worked = row.get("question"), row.get("answer")
        if not isinstance(question, str) or not question.strip():
            raise ValueError("empty question")
        if not isinstance(worked, str):
            raise ValueError("no gold answer")
        m = _GSM8K_ANSWER.search(worked)
        if not m or not m.group(1).strip():
            raise ValueError("no '#### answer' in the gold solution")
        answer = m.group(1).strip().replace(",", "")
        unique_id = str(row.get("unique_id") or row.get("id") or f"test/{line_no - 1}")
        return Problem(
            problem_id=_problem_id(benchmark, unique_id),
            benchmark=benchmark,
            unique_id=unique_id,
            problem=question.strip(),
            answer=answer,
            solution=worked[: m.start()].strip(),
            subject=str(row.get("subject") or "Grade School Math"),
            level=parse_level(row.get("level")),
            kind="gsm8k",
        )
    problem = row.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise ValueError("no problem text")
    solution = row.get("solution") or ""
    if not isinstance(solution, str):
        raise ValueError("solution is not a string")
    answer = row.get("answer")
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        answer = last_boxed(solution)
    if answer is None or not str(answer).strip():
        raise ValueError("no gold answer (no 'answer' field and no \\boxed{} in the solution)")
    unique_id = str(row.get("unique_id") or row.get("id") or f"row/{line_no}")
    if unique_id in ERRATA and str(answer).startswith(ERRATA[unique_id][0]):
        answer = ERRATA[unique_id][1]
    return Problem(
        problem_id=_problem_id(benchmark, unique_id),
        benchmark=benchmark,
        unique_id=unique_id,
        problem=problem.strip(),
        answer=str(answer).strip(),
        solution=solution.strip(),
        subject=str(row.get("subject") or row.get("type") or ""),
        level=parse_level(row.get("level")),
        kind=str(row.get("kind") or "math"),
    )
