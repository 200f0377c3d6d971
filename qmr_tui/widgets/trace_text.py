"""The text lines around a TraceView (answers, side headers, the diagnosis panel), built from a TraceDetail.

Shared by the trace screen and the blind review screen; plain functions, so the screens only place them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from qmr_core.browse import TraceDetail
from qmr_core.browse.trace import Side, describe_annotation


def _answer(extracted: str | None) -> str:
    return "∅ (no answer)" if extracted is None else extracted


def _mark(ok: bool) -> tuple[str, str]:
    return ("✓ right", "green") if ok else ("✗ wrong", "red")


def answers_text(d: TraceDetail) -> Text:
    """gold │ base answer ✓/✗ │ quantized answer ✓/✗."""
    return Text.assemble(
        ("gold ", "bold"), d.gold, "  │  ",
        (f"{d.base.label}: ", "bold"), _answer(d.base.extracted), " ", _mark(d.base.correct), "  │  ",
        (f"{d.quant.label}: ", "bold"), _answer(d.quant.extracted), " ", _mark(d.quant.correct),
    )


def side_head(d: TraceDetail, side: Side, active: bool) -> Text:
    """One column's header in the side-by-side layout: label, right or wrong, number of steps."""
    trace = d.side(side)
    ok = "✓" if trace.correct else "✗"
    return Text(f"{trace.label} {ok} ({len(trace.steps)} steps)", style="bold reverse" if active else "bold")


def active_side_text(active: Side) -> tuple[str, str]:
    return f"{'base' if active == 'base' else 'quantized'} active", "bold reverse"


@dataclass
class DiagnosisText:
    """The trace screen's diagnosis panel: an empty line is hidden."""

    main: Text = field(default_factory=Text)  # the shown judge's verdict on the active side
    verdict: str = ""  # the researcher's accept/correct verdict
    why: Text = field(default_factory=Text)  # the judge's rationale
    markers: list[str] = field(default_factory=list)  # [DIV] [FLIP] [SYM] and the divergence locator


def _main_line(d: TraceDetail, side_name: Side, judge: str | None) -> tuple[Text, Text]:
    side = d.side(side_name)
    diag = side.diagnosis(judge)
    who = "base" if side_name == "base" else "quantized"
    main, why = Text(), Text()
    if diag is None:
        if side.correct:
            main.append(f"the {who} trace is right: nothing to diagnose", style="dim")
        else:
            main.append(f"no diagnosis of the {who} trace", style="yellow")
            main.append(" (run `qmr diagnose`; c records your own verdict)", style="dim")
        return main, why
    agree, n = side.agreement(judge)
    step = "none" if diag.first_error_step is None else str(diag.first_error_step + 1)
    main.append(diag.tag, style="bold red")
    main.append(f" {who} step {step}")
    if diag.capability:
        main.append(f" · {diag.capability}")
    main.append(f" · {diag.judge}", style="dim")
    if diag.first_error_step is None:
        main.append(" · no step located", style="dim")
    elif n:  # the other judges that located a step
        main.append(f" {agree}/{n} agree", style="dim")
    if diag.rationale:
        why.append(" ".join(diag.rationale.split()), style="italic")
    return main, why


def diagnosis_text(d: TraceDetail, side_name: Side, judge: str | None, shade: bool) -> DiagnosisText:
    """What the diagnosis panel shows for the active side, with `judge`'s diagnoses; `shade`: tokens are shaded."""
    main, why = _main_line(d, side_name, judge)
    side = d.side(side_name)
    markers = []
    if d.divergent_row is not None:
        r = d.rows[d.divergent_row]
        step_idx = r.quant if r.quant is not None else r.base
        markers.append(f"[DIV] step {step_idx + 1} ({d.divergent_source})" if step_idx is not None else "[DIV]")
    if d.flip is not None:
        markers.append(d.flip.describe())
    for f in side.flags:
        markers.append(f"[SYM] step {f.step_idx + 1}: {f.text}")
    if shade and d.divergence is not None:
        markers.append(d.divergence.describe_locator())
    return DiagnosisText(main, describe_annotation(side.annotation), why, markers)
