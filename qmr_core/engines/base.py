"""The engine face every backend implements: chat messages in, generations out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from qmr_core.benchmarks.prompts import Messages


@dataclass(frozen=True)
class Decoding:
    """How to decode. Greedy when temperature is 0. Part of a run's identity."""

    max_new_tokens: int = 512  # the budget; a trace that reaches it ends with finish_reason "length"
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0  # nucleus sampling (ignored when greedy)
    n_samples: int = 1  # samples per problem (sample_idx 0..n-1)
    seed: int = 0  # sampling seed; engines derive one per sample from it (ignored when greedy)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        if self.greedy:  # sampling knobs do not change greedy output, so they stay out of the run id
            d.update(top_p=None, seed=None)
        return d


@dataclass
class Generation:
    text: str
    prompt: str  # exactly what the model saw
    n_prompt_tokens: int
    n_tokens: int
    finish_reason: str  # eos | length | error
    latency_ms: float
    extra: dict = field(default_factory=dict)


class Engine(Protocol):
    name: str

    def generate(self, batch: list[Messages], decoding: Decoding, sample_idx: int = 0) -> list[Generation]: ...

    def describe(self) -> dict: ...
