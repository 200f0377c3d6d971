"""The symbolic step checker over a whole trace: each step's claims (step_claims.py), then the rules across steps
(trace_rules.py). Callers use `check_steps`; the two modules below it never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fractions import Fraction

from qmr_core.diagnose.arith import MAX_TEXT
from qmr_core.diagnose.misreadings import misreading_flags
from qmr_core.diagnose.rates import rate_flags
from qmr_core.diagnose.step_claims import NOT_ASSERTED, Claim, _fmt, find_claims
from qmr_core.diagnose.trace_rules import trace_flags
from qmr_core.diagnose.wording import wording_flags


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
    for idx, claim in trace_flags(steps) + text_flags(steps, problem):
        flags.append(Flag(idx, per_step[idx], claim))  # claim_idx after the step's arithmetic claims
        per_step[idx] += 1
        n += 1
    flags.sort(key=lambda f: f.step_idx)
    return TraceCheck(n, flags)


def _text_claim(text: str, rule: str, before: Fraction | None, used: Fraction | None) -> Claim:
    zero = Fraction(0)
    return Claim(text=text, lhs=text, rhs="", lhs_value=before if before is not None else zero,
                 rhs_value=used if used is not None else zero, holds=False,
                 computed="" if before is None else _fmt(before), stated="" if used is None else _fmt(used), rule=rule)


def text_flags(steps: Sequence[str], problem: str) -> list[tuple[int, Claim]]:
    """Rates misquoted from the problem (rates.py), other statements of the problem misread (misreadings.py) and what
    steps say about themselves (wording.py)."""
    out = [(idx, _text_claim(text, "rate", given, used)) for idx, text, given, used in rate_flags(problem, steps)
           if not NOT_ASSERTED.search(steps[idx])]
    out += [(idx, _text_claim(quote, rule, expected, used)) for idx, rule, quote, expected, used
            in misreading_flags(problem, steps) if not NOT_ASSERTED.search(steps[idx])]
    for idx, step in enumerate(steps):
        out += [(idx, _text_claim(quote, rule, a, b)) for rule, quote, a, b in wording_flags(step)]
    return sorted(out, key=lambda f: f[0])
