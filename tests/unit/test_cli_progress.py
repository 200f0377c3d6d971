"""The CLI's drawing of the library's progress events: the lines the commands printed before there was a library."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from qmr_core.api import events as ev
from qmr_core.cli import progress as cli_progress
from qmr_core.generate.evaluate import BatchStats


def _consoles(monkeypatch) -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli_progress, "err_console", Console(file=err, width=200))
    return Console(file=out, width=200), out, err


def test_sweep_events_print_the_sweep_lines(monkeypatch):
    term, out, err = _consoles(monkeypatch)
    with cli_progress.RichProgress(term) as progress:
        for event in (ev.SweepStarted("tiny", 2, 2, "sample", 4), ev.CellNotRun("smoothquant", 4, "n/a", "needs 8 bits"),
                      ev.CellQuantizing("rtn-w4g32", "llmcompressor", Path("/ck/tiny-rtn")), ev.CellQuantized("rtn w4: 1.0 s"),
                      ev.CellReused("rtn-w8g32"), ev.CellNotRun("gptq", 4, "failed", "boom [x]")):
            progress(event)
    assert out.getvalue().splitlines() == [
        "sweep tiny: 2 methods x 2 bit widths on sample (4 problems)",
        "smoothquant w4: n/a (needs 8 bits)",
        "rtn-w4g32: quantizing with llmcompressor -> /ck/tiny-rtn",
        "  rtn w4: 1.0 s",
        "rtn-w8g32: checkpoint with this recipe exists, not quantized again",
    ]
    assert err.getvalue() == "error: gptq w4: boom [x]\n"  # model text is escaped, not read as markup


def test_eval_events_print_the_run_lines_and_a_bar_that_ends_with_the_run(monkeypatch):
    term, out, err = _consoles(monkeypatch)
    lines = tuple(f"line {i}: bad" for i in range(22))
    with cli_progress.RichProgress(term) as progress:
        progress(ev.RowsSkipped("f.jsonl", lines))
        progress(ev.AllStored("abc", "m on sample", 8))
        progress(ev.Loading("m"))
        progress(ev.Generating("def", "m", "m on sample", 3, 5))
        progress(ev.BatchDone("def", BatchStats(done=3, total=3, correct=1, tokens=30, seconds=1.0)))
        assert progress.live is not None
        progress(ev.GenerationEnded("def", "done"))
        assert progress.live is None
    text = out.getvalue().splitlines()
    assert text[0] == "run abc (m on sample): all 8 samples already stored; nothing to generate"
    assert text[1] == "run def: m on sample, 3 samples to generate (5 already stored)"
    assert "3/3 acc 33.3% 30 tok/s" in text[2]
    assert err.getvalue().splitlines()[-1] == "skipped ... and 2 more rows" and len(err.getvalue().splitlines()) == 21


def test_every_event_reads_as_a_line_without_a_renderer():
    assert str(ev.StageProgress("judging", 2, 5)) == "judging: 2/5"
    assert str(ev.HoldoutMissing(("math500", "gsm8k"))) == "note: math500, gsm8k not found; nothing excluded for it from calibration"
    assert str(ev.ConfigMeasured("layer 0, all modules", 0.25, 1, 9)) == "layer 0, all modules: ΔNLL +0.250 (1/9)"
