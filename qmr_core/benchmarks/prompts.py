"""Prompt templates: the step-structured chain of thought qmr studies, and the common plain CoT prompt.

A template renders a problem into chat messages; the engine applies the model's own chat template
(or a plain-text fallback for base models). The template text is stored with every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from qmr_core.benchmarks.registry import Problem
from qmr_core.errors import QmrError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    user: str  # "{problem}" is replaced by the problem text
    system: str | None = None
    description: str = ""
    examples: tuple[tuple[str, str], ...] = ()  # demonstrations: (problem, worked answer) as earlier chat turns

    def render(self, problem: Problem | str) -> Messages:
        text = problem if isinstance(problem, str) else problem.problem
        messages: Messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        for example_problem, example_answer in self.examples:
            messages.append({"role": "user", "content": self.user.replace("{problem}", example_problem)})
            messages.append({"role": "assistant", "content": example_answer})
        messages.append({"role": "user", "content": self.user.replace("{problem}", text)})
        return messages

    def text(self) -> str:
        """The exact template, as stored with a run and hashed into its id."""
        parts = [f"[system]\n{self.system}"] if self.system else []
        for example_problem, example_answer in self.examples:
            parts += [f"[user]\n{self.user.replace('{problem}', example_problem)}", f"[assistant]\n{example_answer}"]
        parts.append(f"[user]\n{self.user}")
        return "\n".join(parts)


_STEPS_INSTRUCTION = (
        "Solve the following math problem step by step.\n"
        "Write one step per line, starting each line with \"Step 1:\", \"Step 2:\", and so on.\n"
        "After the last step, give the final answer as \\boxed{ANSWER}.\n\n"
        "Problem: {problem}"
)

# One demonstration fixes the output format even for 135M-parameter models (measured on SmolLM2-135M,
# 24 easy problems: zero-shot boxed 0/24 answers, one-shot 19-21/24). Its two steps show the
# structure without hinting at any benchmark problem.
STEPS = PromptTemplate(
    name="steps",
    user=_STEPS_INSTRUCTION,
    examples=(
        (
            "A box has 4 rows of 6 eggs. How many eggs are in the box?",
            "Step 1: There are 4 rows with 6 eggs each.\nStep 2: 4 * 6 = 24.\nThe final answer is \\boxed{24}.",
        ),
    ),
    description="step-structured chain of thought, one demonstration: 'Step k:' lines, final answer in \\boxed{}",
)

STEPS_0SHOT = PromptTemplate(
    name="steps-0shot",
    user=_STEPS_INSTRUCTION,
    description="the step-structured instruction without a demonstration",
)

PLAIN = PromptTemplate(
    name="plain",
    user="{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.",
    description="the common 'reason step by step' prompt (Qwen2.5-Math / DeepSeek-R1 evaluations)",
)

TEMPLATES: dict[str, PromptTemplate] = {t.name: t for t in (STEPS, STEPS_0SHOT, PLAIN)}


def get_template(name: str) -> PromptTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise QmrError(f"unknown prompt template '{name}' (known: {', '.join(TEMPLATES)})") from None


def plain_text_prompt(messages: Messages) -> str:
    """Fallback for models without a chat template (base models)."""
    parts = [m["content"] for m in messages if m["role"] in ("system", "user")]
    return "\n\n".join(parts) + "\n\nSolution:\n"
