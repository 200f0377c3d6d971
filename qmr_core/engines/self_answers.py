"""The model's own greedy answers to calibration problems (`qmr quantize --calib self`).

Quantization sits below the engines, so it takes this writer as an argument instead of building an engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from qmr_core.benchmarks.registry import Problem
from qmr_core.engines import build_engine
from qmr_core.engines.base import Decoding
from qmr_core.models.registry import ModelRef
from qmr_core.benchmarks.prompts import get_template

if TYPE_CHECKING:
    from qmr_core.engines.hf import HFEngine

BATCH = 8


class EngineSelfAnswers:
    """Answers with the steps prompt on the hf engine; the engine loads on first use and is dropped by close()."""

    def __init__(self, ref: ModelRef, device: str, max_new_tokens: int):
        self.ref, self.device = ref, device
        self.template = get_template("steps")
        self.decoding = Decoding(max_new_tokens=max_new_tokens)
        self.info = {"template": self.template.name, "decoding": self.decoding.as_dict(), "engine": "hf"}
        self._engine: HFEngine | None = None

    def __call__(self, problems: list[Problem]) -> list[tuple[str, str]]:
        if self._engine is None:
            self._engine = cast("HFEngine", build_engine("hf", self.ref, device=self.device))
        engine = self._engine
        pairs: list[tuple[str, str]] = []
        for start in range(0, len(problems), BATCH):
            messages = [self.template.render(p) for p in problems[start : start + BATCH]]
            for msg, gen in zip(messages, engine.generate(messages, self.decoding), strict=True):
                # the calibration text is the problem turn and the model's own answer (no demonstration)
                pairs.append((engine.render([msg[-1]]) + gen.text, gen.text))
        return pairs

    def close(self) -> None:
        self._engine = None
