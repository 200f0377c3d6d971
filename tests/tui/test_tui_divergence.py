"""Divergence shading: the browse layer places per-token values in steps; `d` shades the trace view (Pilot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmr_core.browse import load_trace
from qmr_core.browse.divergence import TokenValue, token_values
from qmr_core.store import Store
from qmr_tui.app import QmrApp
from qmr_tui.screens.trace import TraceScreen
from qmr_tui.widgets.trace_view import TraceView
from tests.helpers.pilot import open_trace, settle, text_of
from tests.helpers.tui_store import BASE, Q3, build_small_store

PID = "sample/algebra/1"


def _tokens(output: str) -> list[tuple[int, str]]:
    """Word tokens with their leading whitespace, as a BPE tokenizer splits them."""
    return [(m.start(), m.group()) for m in re.finditer(r"\s*\S+", output)]


def _add_divergence(store: Store) -> None:
    base_out = store.query("SELECT output FROM samples WHERE run_id = ? AND problem_id = ?", [BASE, PID])[0][0]
    quant_out = store.query("SELECT output FROM samples WHERE run_id = ? AND problem_id = ?", [Q3, PID])[0][0]
    base_tok, quant_tok = _tokens(base_out), _tokens(quant_out)
    kl = [0.7 if tok.strip().startswith("49") else 0.01 for _o, tok in base_tok]
    surprisal = [8.0 if tok.strip().startswith("42") else 0.2 for _o, tok in quant_tok]
    first = next(k for k, s in enumerate(surprisal) if s > 3)
    store.upsert("divergence", [{
        "base_run_id": BASE, "quant_run_id": Q3, "problem_id": PID, "sample_idx": 0, "base_sample_idx": 0,
        "fp_n_tokens": len(kl), "kl_mean": sum(kl) / len(kl), "kl_max": max(kl), "kl_tokens": kl,
        "fp_offsets": [o for o, _t in base_tok], "q_n_tokens": len(surprisal), "surprisal_mean": sum(surprisal) / len(surprisal),
        "surprisal_max": 8.0, "surprisal_tokens": surprisal, "q_offsets": [o for o, _t in quant_tok], "n_seams": 0,
        "first_unlikely_token": first, "first_unlikely_step": 2, "first_unlikely_text": " 42", "unlikely_nats": 2.9957,
    }])


@pytest.fixture
def store_path(tmp_path) -> Path:
    path = build_small_store(tmp_path / "store.duckdb")
    _add_divergence(Store(path, create=False))
    return path


def test_token_values_are_cut_at_step_bounds():
    # "ab cd|ef" : steps (0, 5) "ab cd" and (6, 8) "ef"; tokens at 0 "ab", 2 " cd", 5 "\nef" (crosses the bound)
    out = token_values([1.0, 2.0, 3.0], [0, 2, 5], [(0, 5), (6, 8)], 8)
    assert out == {0: [TokenValue(0, 2, 1.0), TokenValue(2, 5, 2.0)], 1: [TokenValue(0, 2, 3.0)]}
    assert token_values([1.0], [9], [(0, 5)], 10) == {}  # an end-of-sequence token past every step
    assert token_values([], [], [(0, 5)], 5) == {}


def test_browse_layer_returns_the_per_token_values(store_path):
    store = Store(store_path, create=False)
    detail = load_trace(store, BASE, Q3, PID)
    div = detail.divergence
    assert div is not None and div.locator_step == 2 and div.locator_token == " 42"
    step = detail.quant.steps[2]  # "So the total is 7 * 7 = 42 dollars."
    hot = [t for t in div.quant[2] if t.value > 3]
    assert [step[t.start : t.end] for t in hot] == [" 42"]  # the token, with its leading space
    assert all(0 <= t.start < t.end <= len(detail.quant.steps[k]) for k, ts in div.quant.items() for t in ts)
    assert [detail.base.steps[2][t.start : t.end] for t in div.base[2] if t.value > 0.5] == [" 49"]
    assert "step 3" in div.describe_locator() and "p<5%" in div.describe_locator()
    # another problem, never scored: no divergence, and the trace loads as before
    assert load_trace(store, BASE, Q3, "sample/geometry/2").divergence is None


def _render(view: TraceView) -> list[list[tuple[str, object]]]:
    return [[(seg.text, seg.style) for seg in view.render_line(y)] for y in range(view.size.height)]


def _bg_of(lines, word: str):
    return {str(style.bgcolor) for line in lines for text, style in line if word in text and style is not None}


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
async def test_d_toggles_divergence_shading(store_path, size):
    app = QmrApp(store_path)
    async with app.run_test(size=size) as pilot:
        screen = await open_trace(pilot)
        assert isinstance(screen, TraceScreen) and screen.detail.problem_id == PID
        view = screen.query_one(TraceView)
        head_before = text_of(app, "#trace-head")
        before = _render(view)
        await pilot.press("d")
        await settle(pilot)
        assert view.shade
        after = _render(view)
        assert after != before
        shade3 = view.get_component_rich_style("trace--shade3", partial=True)
        assert str(shade3.bgcolor) in _bg_of(after, "42") and str(shade3.bgcolor) not in _bg_of(before, "42")
        text = "\n".join("".join(t for t, _s in line) for line in after)
        assert "[FP]" in text and "[E:Execution]" in text and "[SYM]" in text  # the other markers stay
        legend = text_of(app, "#trace-head")
        assert "KL(fp‖q)" in legend and "surprisal" in legend and len(legend.rstrip()) <= size[0]
        assert "[FP] quantized step 3" in text_of(app, "#diag-markers")
        shade2 = view.get_component_rich_style("trace--shade2", partial=True)
        assert str(shade2.bgcolor) in _bg_of(after, "49")  # the base side: KL 0.7 on its answer token
        await pilot.press("tab")  # stacked, equal steps show the active side's tokens: tab rebuilds
        await settle(pilot)
        assert view.active == "base" and "[FP]" in "\n".join("".join(t for t, _s in line) for line in _render(view))
        await pilot.press("tab")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert not view.shade and text_of(app, "#trace-head") == head_before
        assert "[FP]" not in "\n".join("".join(t for t, _s in line) for line in _render(view))


async def test_d_on_a_problem_without_divergence_says_so(store_path):
    app = QmrApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_trace(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert screen.detail.divergence is None
        await pilot.press("d")
        await settle(pilot)
        assert any("no divergence stored" in str(n.message) for n in app._notifications)
