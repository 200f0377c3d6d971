"""Stored sensitivity analyses, read and written without torch (the TUI and reports import this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qmr_core.errors import QmrError
from qmr_core.store import Store
from qmr_core.store.records import SensitivityRun, SensitivitySummary
from qmr_core.store.sensitivity import analyses_by_prefix, analysis_rows, analysis_summaries
from qmr_core.store.summary_reads import latest_sensitivity_id

ALL = "all"  # module column for "every module of the layer"
EVERY_LAYER = -1
KIND_ORDER = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCOPES = ("cells", "layers", "kinds")  # (layer, kind) cells, whole layers, one kind in every layer
HIGHER_IS_BETTER = {"accuracy"}  # for every other metric, higher means more damage


@dataclass
class Row:
    layer: int
    module: str
    n_modules: int
    weight_err: float
    out_err: float
    nll: float
    delta_nll: float
    delta_nll_se: float | None = None  # standard error of delta_nll, clustered by trace
    accuracy: float | None = None
    seconds: float = 0.0

    def as_row(self, sens_id: str) -> dict:
        return {"sens_id": sens_id, **self.__dict__}


def stored_rows(store: Store, sens_id: str) -> dict[tuple[int, str], Row]:
    return {
        (r.layer, r.module): Row(**{k: getattr(r, k) for k in Row.__dataclass_fields__})
        for r in analysis_rows(store, sens_id)
    }


def record_analysis(store: Store, row: dict) -> None:
    store.upsert("sensitivity_runs", [row])


def record_rows(store: Store, sens_id: str, rows: Sequence[Row]) -> None:
    if rows:
        store.upsert("sensitivity", [r.as_row(sens_id) for r in rows])


@dataclass
class Grid:
    """A stored analysis arranged as layer x module kind."""

    info: SensitivityRun
    kinds: list[str]
    n_layers: int
    cells: dict[tuple[int, str], Row]

    def value(self, layer: int, module: str, metric: str = "delta_nll") -> float | None:
        row = self.cells.get((layer, module))
        return None if row is None else getattr(row, metric)

    def ranked_layers(self, metric: str = "delta_nll") -> list[tuple[int, float]]:
        """Whole layers, most damaging first."""
        vals = [(i, self.value(i, ALL, metric)) for i in range(self.n_layers)]
        return sorted(((i, v) for i, v in vals if v is not None), key=lambda t: -damage(t[1], metric))


def damage(value: float, metric: str) -> float:
    """A value oriented so that larger always means more damage."""
    return -value if metric in HIGHER_IS_BETTER else value


def _kind_key(kind: str) -> tuple:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def load_grid(store: Store, sens_id: str | None = None) -> Grid:
    if sens_id is None:
        sens_id = latest_sensitivity_id(store, None)  # no model to prefer: the newest
        if sens_id is None:
            raise QmrError("no sensitivity analysis in this store; run qmr sensitivity first")
    info = analyses_by_prefix(store, sens_id)
    if len(info) != 1:
        raise QmrError(f"no sensitivity analysis '{sens_id}' in this store" if not info else f"'{sens_id}' is ambiguous")
    cells = stored_rows(store, info[0].sens_id)
    kinds = sorted({m for _, m in cells if m != ALL}, key=_kind_key)
    layers = [i for i, _ in cells if i != EVERY_LAYER]
    return Grid(info[0], kinds, (max(layers) + 1) if layers else 0, cells)


def list_analyses(store: Store) -> list[SensitivitySummary]:
    return analysis_summaries(store)
