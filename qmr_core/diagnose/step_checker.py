"""The symbolic step checker over a whole trace: each step's claims (symbolic.py), then the rules across steps
(trace_rules.py). Callers use `check_steps`; the two modules below it never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qmr_core.diagnose.arith import MAX_TEXT
from qmr_core.diagnose.symbolic import Claim, find_claims
from qmr_core.diagnose.trace_rules import trace_flags


@dataclass(frozen=True)
class Flag:
    step_idx: int
    claim_idx: int  # position among the step's judged claims
    claim: Claim


@dataclass
class TraceCheck:
    n_claims: int
    flags: list[Flag]

    @property
    def first_error_step(self) -> int | None:
        return min((f.step_idx for f in self.flags), default=None)


def check_steps(steps: Sequence[str], problem: str = "") -> TraceCheck:
    """Every false claim of the trace: arithmetic per step, then the rules across claims."""
    flags: list[Flag] = []
    n = 0
    per_step = [0] * len(steps)
    context = problem[:MAX_TEXT] + "\n" + "\n".join(steps)[:MAX_TEXT]
    for idx, text in enumerate(steps):
        result = find_claims(text, context)
        n += len(result.claims)
        per_step[idx] = len(result.claims)
        for k, claim in enumerate(result.claims):
            if not claim.holds:
                flags.append(Flag(idx, k, claim))
    for idx, claim in trace_flags(steps):
        flags.append(Flag(idx, per_step[idx], claim))  # claim_idx after the step's arithmetic claims
        per_step[idx] += 1
        n += 1
    flags.sort(key=lambda f: f.step_idx)
    return TraceCheck(n, flags)
