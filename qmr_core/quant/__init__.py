"""Quantization: built-in RTN (rtn.py) and library backends behind `qmr_core.quant.api.quantize`.

Importing this package only quiets two import-time log lines of optional libraries: torchao (which
transformers imports whenever it is installed, as the quantization extra does) warns that its CUDA
kernels cannot load on a CPU-only torch, and torch's pytree logs a deprecation for torchao's enums.
"""

import logging as _logging

for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)
