"""QuantSpec: one quantization recipe, validated up front and stored as JSON with every model.

Which backend does what is declared with each backend (quant/backends.py; measured on CPU, see README
"Quantization"):
- llmcompressor (compressed-tensors checkpoints, which vLLM also loads): rtn, gptq, awq, smoothquant.
- gptqmodel (GPTQ / AWQ-format checkpoints with a real int4 CPU kernel): rtn, gptq, awq.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace

from qmr_core.errors import QmrError
from qmr_core.quant.backends import BACKENDS, check_method  # noqa: F401  (BACKENDS re-exported for --backend)

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
