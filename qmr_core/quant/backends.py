"""The quantization backends: the `QuantBackend` face `quant.api.quantize` calls, and a registry name -> backend.

A backend is added by writing its module (a `quantize` function with the signature below) and one
`register_backend` call here, which names the methods it does and any limits of its own on a spec;
`QuantSpec` validation, `--backend` and `quantize` all read this table. The loaders import the
library module on first use, so choosing one backend never imports the other's library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from qmr_core.errors import QmrError
from qmr_core.quant.backend_common import BackendResult, LayerProgress

if TYPE_CHECKING:
    from qmr_core.quant.spec import QuantSpec


class QuantBackend(Protocol):
    """Quantize the float checkpoint at `source` into `out_dir` (a fresh folder); calibration texts are None for rtn."""

    def quantize(self, source: Path | str, spec: QuantSpec, calib_texts: list[str] | None, out_dir: Path,
                 on_layer: LayerProgress | None = None) -> BackendResult: ...


LayerErrors = Callable[[Path | str, Path, str], dict[str, float]]  # (source, checkpoint, method) -> relative errors


def _no_limits(spec: QuantSpec) -> None:
    return None


@dataclass(frozen=True)
class BackendEntry:
    name: str
    methods: tuple[str, ...]
    load: Callable[[], QuantBackend]
    check: Callable[[QuantSpec], None] = _no_limits  # raises QmrError for a spec this backend cannot write
    # for a backend whose result carries no per-layer error: measured after the timed run (it reloads both models)
    layer_errors: LayerErrors | None = None


_BACKENDS: dict[str, BackendEntry] = {}
BACKENDS = _BACKENDS.keys()  # a live view: `name in BACKENDS`, `' | '.join(BACKENDS)`


def register_backend(entry: BackendEntry) -> None:
    _BACKENDS[entry.name] = entry


def backend_entry(name: str) -> BackendEntry:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise QmrError(f"unknown backend '{name}' (choose from {', '.join(_BACKENDS)})") from None


def check_method(spec: QuantSpec) -> BackendEntry:
    """The spec's backend, which exists and does the spec's method (its own limits are `entry.check`)."""
    entry = backend_entry(spec.backend)
    if spec.method not in entry.methods:
        others = [b.name for b in _BACKENDS.values() if spec.method in b.methods]
        raise QmrError(f"{spec.backend} does not do {spec.method}; use --backend {others[0]}")
    return entry


# -- the built-in backends --------------------------------------------------------------------

GPTQMODEL_BITS = (2, 3, 4, 8)  # the bit widths its GPTQ packers write


def _llmcompressor() -> QuantBackend:
    from qmr_core.quant import llmcompressor_backend

    return llmcompressor_backend


def _gptqmodel() -> QuantBackend:
    from qmr_core.quant import gptqmodel_backend

    return gptqmodel_backend


def _gptqmodel_limits(spec: QuantSpec) -> None:
    if spec.act_bits is not None:
        raise QmrError("gptqmodel quantizes weights only; --act-bits 8 needs --backend llmcompressor")
    if spec.bits not in GPTQMODEL_BITS:
        raise QmrError(f"gptqmodel writes {', '.join(map(str, GPTQMODEL_BITS))}-bit weights, not {spec.bits}")
    if spec.method == "awq" and spec.bits != 4:
        raise QmrError(f"gptqmodel's AWQ format is 4-bit only, not {spec.bits}; use --backend llmcompressor")


def _gptqmodel_layer_errors(source: Path | str, out_dir: Path, method: str) -> dict[str, float]:
    from qmr_core.quant.gptqmodel_backend import layer_errors

    return layer_errors(Path(source), out_dir, method)


register_backend(BackendEntry("llmcompressor", ("rtn", "gptq", "awq", "smoothquant"), _llmcompressor))
register_backend(BackendEntry("gptqmodel", ("rtn", "gptq", "awq"), _gptqmodel, _gptqmodel_limits, _gptqmodel_layer_errors))
