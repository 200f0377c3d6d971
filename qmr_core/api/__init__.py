"""qmr as a library: the calls the CLI makes, for notebooks and scripts.

    from qmr_core import api
    fp = api.evaluate("runs.duckdb", "smollm2-135m", "sample", limit=20)
    q4 = api.evaluate("runs.duckdb", "smollm2-135m@rtn-w4g64", "sample", limit=20)
    [cmp] = api.compare("runs.duckdb", q4.run_id, fp.run_id)
    diag = api.diagnose("runs.duckdb", q4.run_id, fp.run_id, ["symbolic"])
    print(api.report("runs.duckdb").tables[0].text_rows())

Each takes plain arguments (a store path or an open Store, names, numbers, dataclasses), reports progress through
an optional `progress` callback (typed events, `api.events`; `print` works), and returns records. Heavy
libraries (torch, transformers, the quantization backends) load only inside the calls that need them.
"""

from qmr_core.api.analysis import Report, compare, diagnose, report
from qmr_core.api.evaluate import EvalResult, Generation, Selection, evaluate, load_selection
from qmr_core.api.quantize import SweepCell, SweepResult, quantize, sweep
from qmr_core.api.recover import RecoveryEval, recover_build, recover_eval, recover_train
from qmr_core.api.sensitivity import sensitivity
from qmr_core.api.stores import StoreLike, as_store, resolve_run

__all__ = [
    "EvalResult", "RecoveryEval", "Report", "Selection", "StoreLike", "SweepCell", "SweepResult", "as_store", "compare",
    "diagnose", "evaluate", "Generation", "load_selection", "quantize", "recover_build", "recover_eval",
    "recover_train", "report", "resolve_run", "sensitivity", "sweep",
]
