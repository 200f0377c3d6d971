"""QuantSpec: one quantization recipe, validated up front and stored as JSON with every model; and the
registry of the backends that write one (the `QuantBackend` face `quant.api.quantize` calls).

Which backend does what (measured on CPU, see README "Quantization"):
- llmcompressor (compressed-tensors checkpoints, which vLLM also loads): rtn, gptq, awq, smoothquant.
- gptqmodel (GPTQ / AWQ-format checkpoints with a real int4 CPU kernel): rtn, gptq, awq.

A backend is added by writing its module (a `quantize` function with the `QuantBackend` signature) and
one `register_backend` call at the end of this file, which names the methods it does, any limits of its
own on a spec, and its module; validation, `--backend` and `quantize` all read the registry. The spec
names the module and never imports it (the backends import the spec): quant.api imports the chosen one
on first use, so choosing one backend never imports the other's library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from qmr_core.errors import QmrError
from qmr_core.quant.backend_common import BackendResult, LayerProgress
from qmr_core.registry import Registry

METHODS = ("rtn", "gptq", "awq", "smoothquant")
AUTO_GROUP = 0  # resolved against the model's layer widths at quantize time
_CALIB = re.compile(r"^(math|self|text)(?::(.+))?$")


@dataclass(frozen=True)
class QuantSpec:
    method: str
    bits: int
    group_size: int = AUTO_GROUP  # -1 = per channel; 0 = choose 128/64/32 from the layer widths
    symmetric: bool | None = None  # None: asymmetric for AWQ, symmetric otherwise
    act_order: bool = False  # GPTQ: quantize columns in order of decreasing activation size
    act_bits: int | None = None  # 8 = dynamic per-token int8 activations (W8A8)
    smoothing_strength: float = 0.8  # SmoothQuant alpha
    calib: str = "math"  # math | self | text | text:PATH
    n_samples: int = 64
    seq_len: int = 256
    seed: int = 0
    backend: str = "llmcompressor"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise QmrError(f"unknown method '{self.method}' (choose from {', '.join(METHODS)})")
        backend = check_method(self)
        if not 2 <= self.bits <= 8:
            raise QmrError(f"--bits must be 2..8, got {self.bits}")
        if self.group_size < -1:
            raise QmrError(f"--group-size must be positive, -1 (per channel) or 0 (auto), got {self.group_size}")
        if self.act_bits not in (None, 8):
            raise QmrError(f"--act-bits must be 8 (dynamic per-token int8) or unset, got {self.act_bits}")
        if self.method == "smoothquant":
            if self.bits != 8 or self.act_bits != 8:
                raise QmrError(
                    f"smoothquant is W8A8 (int8 weights and activations): use --bits 8 --act-bits 8, "
                    f"not w{self.bits}a{self.act_bits or 16}"
                )
            if not 0.0 < self.smoothing_strength < 1.0:
                raise QmrError(f"--smoothing-strength must be in (0, 1), got {self.smoothing_strength}")
        backend.check(self)
        if self.act_order and self.method != "gptq":
            raise QmrError("--act-order applies to gptq only")
        if self.n_samples < 1 or self.seq_len < 16:
            raise QmrError(f"need --n-samples >= 1 and --seq-len >= 16, got {self.n_samples}, {self.seq_len}")
        if not _CALIB.match(self.calib):
            raise QmrError(f"--calib must be math, self, text or text:PATH, got '{self.calib}'")

    @property
    def is_symmetric(self) -> bool:
        return self.symmetric if self.symmetric is not None else self.method != "awq"

    @property
    def needs_calibration(self) -> bool:
        return self.method != "rtn"

    @property
    def calib_kind(self) -> str:
        return self.calib.partition(":")[0]

    @property
    def tag(self) -> str:
        """Short name for folders and tables, e.g. gptq-w4g64, awq-w4g128-asym, smoothquant-w8a8."""
        group = "" if self.group_size == AUTO_GROUP else "gch" if self.group_size == -1 else f"g{self.group_size}"
        acts = f"a{self.act_bits}" if self.act_bits else ""
        default_sym = self.method != "awq"
        sym = "" if self.is_symmetric == default_sym else ("-sym" if self.is_symmetric else "-asym")
        return f"{self.method}-w{self.bits}{acts}{group}{sym}"

    def with_group(self, group_size: int) -> QuantSpec:
        return replace(self, group_size=group_size)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["symmetric"] = self.is_symmetric
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> QuantSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def recipe_key(self) -> dict:
        """The fields that decide the checkpoint (everything; spelled out so a resumed sweep can compare)."""
        return self.as_dict()


def default_spec(method: str, bits: int, **kwargs) -> QuantSpec:
    """A spec with per-method defaults: SmoothQuant gets int8 activations and per-channel weights."""
    if method == "smoothquant":
        kwargs.setdefault("act_bits", 8)
        kwargs.setdefault("group_size", -1)
    return QuantSpec(method=method, bits=bits, **kwargs)


# -- the backends -----------------------------------------------------------------------------


class QuantBackend(Protocol):
    """Quantize the float checkpoint at `source` into `out_dir` (a fresh folder); calibration texts are None for rtn."""

    def quantize(self, source: Path | str, spec: QuantSpec, calib_texts: list[str] | None, out_dir: Path,
                 on_layer: LayerProgress | None = None) -> BackendResult: ...


@runtime_checkable
class MeasuredAfter(Protocol):
    """A backend whose result may carry no per-layer error: measured after the timed run (it reloads both models)."""

    def layer_errors(self, source: Path, out_dir: Path, method: str) -> dict[str, float]: ...


def _no_limits(spec: QuantSpec) -> None:
    return None


@dataclass(frozen=True)
class BackendEntry:
    name: str
    methods: tuple[str, ...]
    # the module with the QuantBackend face, imported on first use by quant.api (above the spec: no circle)
    module: str
    check: Callable[[QuantSpec], None] = _no_limits  # raises QmrError for a spec this backend cannot write


BACKEND_REGISTRY: Registry[BackendEntry] = Registry("backend", "choose from ")
BACKENDS = BACKEND_REGISTRY.names  # a live view: `name in BACKENDS`, `' | '.join(BACKENDS)`


def register_backend(entry: BackendEntry) -> None:
    BACKEND_REGISTRY.register(entry.name, entry)


def backend_entry(name: str) -> BackendEntry:
    return BACKEND_REGISTRY.get(name)


def check_method(spec: QuantSpec) -> BackendEntry:
    """The spec's backend, which exists and does the spec's method (its own limits are `entry.check`)."""
    entry = backend_entry(spec.backend)
    if spec.method not in entry.methods:
        others = [b.name for b in BACKEND_REGISTRY.entries() if spec.method in b.methods]
        raise QmrError(f"{spec.backend} does not do {spec.method}; use --backend {others[0]}")
    return entry


GPTQMODEL_BITS = (2, 3, 4, 8)  # the bit widths its GPTQ packers write


def _gptqmodel_limits(spec: QuantSpec) -> None:
    if spec.act_bits is not None:
        raise QmrError("gptqmodel quantizes weights only; --act-bits 8 needs --backend llmcompressor")
    if spec.bits not in GPTQMODEL_BITS:
        raise QmrError(f"gptqmodel writes {', '.join(map(str, GPTQMODEL_BITS))}-bit weights, not {spec.bits}")
    if spec.method == "awq" and spec.bits != 4:
        raise QmrError(f"gptqmodel's AWQ format is 4-bit only, not {spec.bits}; use --backend llmcompressor")


register_backend(BackendEntry("llmcompressor", ("rtn", "gptq", "awq", "smoothquant"), "qmr_core.quant.llmcompressor_backend"))
register_backend(BackendEntry("gptqmodel", ("rtn", "gptq", "awq"), "qmr_core.quant.gptqmodel_backend", _gptqmodel_limits))
