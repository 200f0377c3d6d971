"""Pieces both library backends share: the result record, calibration tokenisation, quiet imports."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from qmr_core.errors import QmrError

LayerProgress = Callable[[int, int], None]  # (layers done, layers total)
MIN_CALIB_TOKENS = 8


@dataclass
class BackendResult:
    backend: str
    backend_version: str
    checkpoint_format: str  # compressed-tensors | gptq | awq
    layer_errors: dict[str, float]
    notes: dict = field(default_factory=dict)


def package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def require(module: str, backend: str) -> None:
    """A clear error line when an optional quantization library is not installed."""
    try:
        __import__(module)
    except ImportError as exc:
        raise QmrError(
            f"the {backend} backend needs the '{module}' package, which is not importable ({exc}); "
            "install qmr's quantization extra: pip install -e '.[quant]' after torch"
        ) from exc


def quiet_library_logs() -> None:
    """torchao (pulled in by transformers when present) and torch's pytree log import-time noise."""
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("LLM_COMPRESSOR_LOG_LEVEL", "ERROR")


def import_quietly(module: str):
    """Import a module whose import prints a banner (peft pulls in gptqmodel, which draws one on stderr)."""
    import importlib
    import io

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(module)


@contextlib.contextmanager
def no_tqdm() -> Iterator[None]:
    """Silence tqdm bars drawn inside the block (the libraries' own; qmr draws a rich bar instead).

    tqdm reads TQDM_DISABLE only when it is first imported, so the default is switched on the class.
    """
    from tqdm import std

    original = std.tqdm.__init__

    def init(self, *args, **kwargs):
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    std.tqdm.__init__ = init
    try:
        yield
    finally:
        std.tqdm.__init__ = original


def tokenize_calibration(tokenizer, texts: list[str], seq_len: int) -> tuple[list[dict], dict]:
    """Token ids per text, truncated to seq_len; texts shorter than MIN_CALIB_TOKENS are dropped."""
    rows: list[dict] = []
    for text in texts:
        enc = tokenizer(text, truncation=True, max_length=seq_len, add_special_tokens=True)
        ids = list(enc["input_ids"])
        if len(ids) >= MIN_CALIB_TOKENS:
            rows.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
    if not rows:
        raise QmrError(f"no calibration text has {MIN_CALIB_TOKENS} or more tokens")
    n_tokens = sum(len(r["input_ids"]) for r in rows)
    return rows, {"n_used": len(rows), "n_tokens": n_tokens, "seq_len": seq_len}
