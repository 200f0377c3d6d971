"""Per failing sample: the rows each locator writes, and the combined verdict (combine.py).

Also the LLM votes: each judge votes K times per sample (judge protocol v2); votes are stored with
their protocol and reused by a rerun under the same protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from qmr_core.diagnose import rules
from qmr_core.diagnose.combine import DIVERGENCE, SYMBOLIC, Combined, Locator, combine, llm_locator
from qmr_core.diagnose.judge import Judge, JudgeCase, JudgeSpec, JudgeVerdict, build_judge, majority_vote, parse_verdict
from qmr_core.diagnose.judge_protocol import MAX_STEPS_SHOWN
from qmr_core.diagnose.step_checker import check_steps
from qmr_core.diagnose.step_claims import CHECKER_VERSION
from qmr_core.diagnose.taxonomy import capability_of
from qmr_core.store import Store
from qmr_core.store import diagnoses as diag_store
from qmr_core.store.records import BaseSample, FailingSample, JudgeVote

RULES = "rules"
COMBINED = "combined"
FP_DIVERGENCE = "fp-divergence"  # the fp-referenced locator as a judge of its own (`qmr diagnose --fp-locator`)
WRITE_EVERY = 32


def diag_row(run_id: str, s, judge: str, step: int | None, error_type: str | None, rationale: str,
             base_run_id: str | None, evidence: dict | None = None, subtype: str | None = None,
             located_by: str | None = None) -> dict:
    return {
        "run_id": run_id, "problem_id": s.problem_id, "sample_idx": s.sample_idx, "judge": judge,
        "first_error_step": step, "error_type": error_type, "capability": capability_of(error_type),
        "rationale": rationale, "base_run_id": base_run_id,
        "evidence_json": json.dumps(evidence) if evidence is not None else None,
        "subtype": subtype, "located_by": located_by,
    }


@dataclass
class Evidence:
    """What is known about one failing sample: rows per judge so far, and the locators."""

    sample: FailingSample
    findings: list[rules.RuleVerdict]
    sym_step: int | None
    sym_text: str | None
    rows: list[dict]
    flag_rows: list[dict]
    summary: dict
    votes: list[tuple[str, JudgeVerdict]] = field(default_factory=list)

    def add_votes(self, judge: str, verdicts: list[JudgeVerdict]) -> None:
        """One judge's K votes: each is evidence; the judge's own row is its majority."""
        self.votes += [(judge, v) for v in verdicts]
        s = self.sample
        base_run_id = self.rows[0]["base_run_id"]
        m = majority_vote(verdicts)
        if m is None:
            why = "unparsed judge output (" + ", ".join(sorted({v.error or "" for v in verdicts})) + ")"
            self.rows.append(diag_row(s.run_id, s, judge, None, None, why, base_run_id))
            return
        first = next((v for v in verdicts if v.located and v.first_error_step == m.first_error_step), None)
        why = (first.rationale if first and len(verdicts) == 1 else m.describe()) or m.describe()
        self.rows.append(diag_row(s.run_id, s, judge, m.first_error_step, m.error_type, why, base_run_id))

    def locators(self, divergence_step: int | None = None) -> list[Locator | None]:
        out: list[Locator | None] = [llm_locator(majority_vote([v for _j, v in self.votes]))]
        if self.sym_step is not None:
            out.append(Locator(SYMBOLIC, self.sym_step, "Execution", f"symbolic checker: {self.sym_text}"))
        out += [Locator(f"degenerate:{f.kind}", f.first_error_step, "Degenerate", f.rationale, f.kind)
                for f in self.findings]
        if divergence_step is not None:  # hook for the fp-referenced locator (issue 13, item 5)
            out.append(Locator(DIVERGENCE, divergence_step, None, "first step the full-precision model would not write"))
        return out

    def combined(self, divergence_step: int | None = None) -> Combined:
        return combine(self.locators(divergence_step), self.votes)

    def combined_row(self, run_id: str, base_run_id: str | None, extra: dict,
                     divergence_step: int | None = None) -> dict:
        c = self.combined(divergence_step)
        majority = majority_vote([v for _j, v in self.votes])
        ev = dict(self.summary)
        ev["votes"] = [{"judge": j, **({"step": v.first_error_step, "type": v.error_type} if v.parsed
                                       else {"unparsed": v.error})} for j, v in self.votes]
        ev["majority"] = ({"step": majority.first_error_step, "type": majority.error_type, "n": majority.n_votes,
                           "n_located": majority.n_located, "n_agree": majority.n_agree,
                           "type_tied": majority.type_tied} if majority else None)
        ev["located_by"] = c.located_by
        ev["disagreements"] = c.disagreements
        ev["agreement"] = {"n_located_votes": c.n_located_votes, "n_agreeing_votes": c.n_agreeing_votes}
        ev.update(extra)
        return diag_row(run_id, self.sample, COMBINED, c.step, c.error_type, c.rationale, base_run_id, ev,
                        c.subtype if c.error_type == "Degenerate" else None, c.located_by)


def checked_evidence(run_id: str, s: FailingSample, symbolic: bool, base_run_id: str | None, base_answer: str | None = None,
                     benchmark: str = "math") -> Evidence:
    """The Degenerate subtypes and (when asked) the symbolic checker on one sample."""
    found = rules.findings(s.output, s.steps, s.spans, s.finish_reason, s.extracted_answer, s.extract_method,
                           gold=s.gold, base_answer=base_answer, problem=s.problem, benchmark=benchmark)
    first = found[0] if found else None
    rows = [diag_row(run_id, s, RULES, first.first_error_step if first else None, "Degenerate" if first else None,
                     "; ".join(f.rationale for f in found) or "no degenerate pattern", base_run_id,
                     subtype=first.kind if first else None, located_by=f"degenerate:{first.kind}" if first else None)]
    summary: dict = {"rules": [{"kind": f.kind, "step": f.first_error_step} for f in found]}
    flag_rows: list[dict] = []
    sym_step = sym_text = None
    if symbolic:
        check = check_steps(s.steps, s.problem)
        for f in check.flags:
            c = f.claim
            flag_rows.append({
                "run_id": run_id, "problem_id": s.problem_id, "sample_idx": s.sample_idx, "step_idx": f.step_idx,
                "claim_idx": f.claim_idx, "claim": c.text, "lhs_value": str(c.lhs_value), "rhs_value": str(c.rhs_value),
                "stated": c.stated, "true_value": c.computed, "checker_version": CHECKER_VERSION,
            })
        sym_step = check.first_error_step
        if sym_step is not None:
            flag = next(f for f in check.flags if f.step_idx == sym_step)
            c = flag.claim
            sym_text = f"{c.text} is false: {c.computed}, not {c.stated}" if c.computed else c.describe()
            rows.append(diag_row(run_id, s, SYMBOLIC, sym_step, c.error_type, sym_text, base_run_id, located_by=SYMBOLIC))
        else:
            rows.append(diag_row(run_id, s, SYMBOLIC, None, None, f"no false arithmetic claim among {check.n_claims} checked",
                                 base_run_id))
        summary["symbolic"] = {"step": sym_step, "n_claims": check.n_claims, "n_flags": len(check.flags)}
    return Evidence(s, found, sym_step, sym_text, rows, flag_rows, summary)


# -- LLM votes ----------------------------------------------------------------------------------


def _stored_votes(store: Store, run_id: str, judge: Judge) -> dict[tuple[str, int], dict[int, JudgeVote]]:
    protocol = json.dumps(judge.protocol(), sort_keys=True)
    out: dict[tuple[str, int], dict[int, JudgeVote]] = {}
    for vote in diag_store.stored_votes(store, run_id, judge.name, protocol):
        out.setdefault((vote.problem_id, vote.sample_idx), {})[vote.vote_idx] = vote
    return out


def _reread(vote: JudgeVote, n_steps: int) -> tuple[JudgeVerdict, JudgeVote | None]:
    """A stored vote read again from its raw output (reading is cheap and deterministic, so a fix of the
    reader applies to stored votes); the vote to store when the reading changed."""
    v = parse_verdict(vote.raw_output or "", n_steps)
    same = (bool(vote.parsed), vote.parse_error, vote.first_error_step, vote.error_type) == (
        v.parsed, v.error, v.first_error_step, v.error_type)
    updated = None if same else replace(vote, parsed=v.parsed, parse_error=v.error, first_error_step=v.first_error_step,
                                        error_type=v.error_type, rationale=v.rationale, verdict_form=v.form)
    return v, updated


def llm_votes(store: Store, run_id: str, base_run_id: str | None, judge: Judge, failing: list[FailingSample],
              base_of: Callable[[FailingSample], BaseSample | None], batch_size: int, force: bool, progress=None) -> dict[tuple[str, int], list[JudgeVerdict]]:
    """K verdicts per failing sample from one judge: stored votes (same protocol) reused unless force."""
    k = judge.settings.samples
    stored = {} if force else _stored_votes(store, run_id, judge)
    result: dict[tuple[str, int], list[JudgeVerdict]] = {}
    changed = []
    for s in failing:
        votes = stored.get((s.problem_id, s.sample_idx), {})
        if all(i in votes for i in range(k)):
            reread = [_reread(votes[i], min(len(s.steps), MAX_STEPS_SHOWN)) for i in range(k)]
            result[(s.problem_id, s.sample_idx)] = [v for v, _row in reread]
            changed += [row for _v, row in reread if row is not None]
    diag_store.write_votes(store, changed)
    todo = [s for s in failing if (s.problem_id, s.sample_idx) not in result]
    cases = []
    for s in todo:
        base = base_of(s)
        cases.append(JudgeCase(problem=s.problem, steps=s.steps, gold=s.gold, reference=s.solution,
                               base_trace=base.output if base else None,
                               base_correct=bool(base.correct) if base else None))
    for start in range(0, len(cases), WRITE_EVERY):  # stored chunk by chunk: a rerun reuses them
        chunk = todo[start : start + WRITE_EVERY]
        voted = judge.judge_samples(cases[start : start + WRITE_EVERY], batch_size)
        protocol = json.dumps(judge.protocol(), sort_keys=True)  # after voting: a refused schema changes it
        rows: list[JudgeVote] = []
        for s, sample_votes in zip(chunk, voted, strict=True):
            result[(s.problem_id, s.sample_idx)] = [v for _raw, v, _ms in sample_votes]
            for i, (raw, v, latency) in enumerate(sample_votes):
                rows.append(JudgeVote(
                    run_id=run_id, problem_id=s.problem_id, sample_idx=s.sample_idx, judge=judge.name,
                    vote_idx=i, base_run_id=base_run_id, prompt_version=judge.protocol()["version"],
                    protocol_json=protocol, raw_output=raw, parsed=v.parsed, parse_error=v.error,
                    first_error_step=v.first_error_step, error_type=v.error_type, rationale=v.rationale,
                    verdict_form=v.form, latency_ms=latency,
                ))
        diag_store.write_votes(store, rows)
        if progress:
            progress(judge.name, start + len(chunk), len(cases))
    return result


def judge_for(spec: JudgeSpec, device: str, settings, given: dict | None) -> Judge:
    if given and spec.spec in given:
        return given[spec.spec]
    return build_judge(spec, device, settings)
