"""An RTN setting (bits, group, symmetry) and its model-name tag ('@rtn-w4g64'); no torch here, so
resolving a model name does not load torch."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from qmr_core.errors import QmrError


@dataclass(frozen=True)
class RTNSpec:
    bits: int
    group_size: int = 128  # -1 = per channel
    symmetric: bool = True

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= 8:
            raise QmrError(f"RTN bits must be 2..8, got {self.bits}")
        if self.group_size == 0 or self.group_size < -1:
            raise QmrError(f"group size must be positive or -1 (per channel), got {self.group_size}")

    @property
    def tag(self) -> str:
        group = "ch" if self.group_size == -1 else str(self.group_size)
        return f"rtn-w{self.bits}g{group}" + ("" if self.symmetric else "-asym")

    def as_dict(self) -> dict:
        return {"method": "rtn", **asdict(self)}


_TAG = re.compile(r"^rtn-w([2-8])(?:g(\d+|ch))?(-asym)?$")


def parse_rtn_tag(tag: str) -> RTNSpec:
    """'rtn-w4g64' -> RTNSpec(4, 64); 'rtn-w3gch-asym' -> per channel, asymmetric; group defaults to 128."""
    m = _TAG.match(tag)
    if not m:
        raise QmrError(f"bad quantization suffix '@{tag}' (expected e.g. @rtn-w4g64, @rtn-w3gch, @rtn-w4g128-asym)")
    group = m.group(2)
    size = -1 if group == "ch" else int(group) if group else 128
    return RTNSpec(bits=int(m.group(1)), group_size=size, symmetric=not m.group(3))
