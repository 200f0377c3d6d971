"""The float copy of a GGUF model: dequantized by transformers once, saved in qmr's cache, reused.

transformers dequantizes GGUF files to float on load, which takes ~15 s for SmolLM2. The first load
therefore saves the float model and tokenizer as a safetensors folder in qmr's cache, keyed by the GGUF
file and the transformers version, and later loads read that folder (~1 s). Below the engines: the
quantizers start from this copy too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from qmr_core.errors import QmrError
from qmr_core.paths import cache_dir


@contextlib.contextmanager
def quiet_transformers():
    """transformers prints progress bars and advisory warnings while loading; keep the CLI readable."""
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)
        transformers.logging.enable_progress_bar()


def _gguf_cache_dir(gguf: Path) -> Path:
    stat = gguf.stat()
    key = f"{gguf.name}-{stat.st_size}-{int(stat.st_mtime)}-tf{transformers.__version__}"
    return cache_dir() / "gguf" / key


def materialize_gguf(gguf: Path) -> Path:
    """Float safetensors copy of a GGUF model (made once, then reused)."""
    target = _gguf_cache_dir(gguf)
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_transformers():
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        except MemoryError:
            raise
        except Exception as exc:  # an untrusted file: whatever its parser raises, one line (ValueError, struct.error, ...)
            detail = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise QmrError(f"cannot load GGUF file {gguf}: {detail}") from exc
    # transformers marks GGUF-loaded models as quantized and refuses to save them, although the
    # weights are already plain float tensors; drop the marks (measured: bit-identical reload).
    for attr in ("hf_quantizer",):
        if hasattr(model, attr):
            delattr(model, attr)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False  # type: ignore[assignment]  # torch types Module.__setattr__ as Tensor | Module only
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "qmr_source.json").write_text(json.dumps({"gguf": str(gguf), "transformers": transformers.__version__}))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:  # another process made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
