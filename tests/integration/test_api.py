"""qmr as a library: a notebook-style session through `qmr_core.api` only, on the tiny random Llama."""

from __future__ import annotations

import subprocess
import sys

from qmr_core import api
from qmr_core.api import events
from tests.conftest import REPO


def test_a_five_line_notebook_session(tiny_model, tmp_path):
    db, seen = tmp_path / "nb.duckdb", []
    fp = api.evaluate(db, str(tiny_model), "sample", limit=4, max_new_tokens=6, device="cpu", progress=seen.append)
    q4 = api.evaluate(db, f"{tiny_model}@rtn-w4g32", "sample", limit=4, max_new_tokens=6, device="cpu")
    [cmp] = api.compare(db, q4.run_id, fp.run_id)
    diag = api.diagnose(db, q4.run_id, fp.run_id, ["symbolic"], device="cpu")
    rep = api.report(db)

    assert (fp.n, q4.n, fp.generated, q4.generated) == (4, 4, 4, 4)
    assert fp.run_id != q4.run_id and fp.benchmark == q4.benchmark == "sample"
    assert cmp.base_run_id == fp.run_id and cmp.quant_run_id == q4.run_id and cmp.n == 4
    assert sum(cmp.counts.values()) == 4
    assert cmp.acc_base == fp.accuracy and cmp.acc_quant == q4.accuracy
    assert diag.run_id == q4.run_id and diag.base_run_id == fp.run_id
    assert diag.n_failing == round(4 * (1 - (q4.accuracy or 0)))
    assert {r.run_id for r in rep.data.runs} == {fp.run_id, q4.run_id}
    assert rep.tables[0].rows and rep.figures == []

    kinds = [type(e) for e in seen]
    assert kinds[:3] == [events.Loading, events.Loaded, events.Generating] and kinds[-1] is events.GenerationEnded
    assert events.BatchDone in kinds and all(str(e) for e in seen)  # every event reads as a line
    assert seen[-1].status == "done"

    again = api.evaluate(db, str(tiny_model), "sample", limit=4, max_new_tokens=6, device="cpu", progress=seen.append)
    assert again.run_id == fp.run_id and again.generated == 0 and isinstance(seen[-1], events.AllStored)


def test_importing_the_api_loads_no_model_library():
    code = "import sys, qmr_core.api, qmr_core.cli; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
