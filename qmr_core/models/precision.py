"""The precision a model's weights have at their source, for honest labels (issue 14).

``smollm2-135m`` is a Q4_1 GGUF that transformers dequantizes to float on load: its "full
precision" run is ``fp32 (dequantized Q4_1)``, not a bf16 checkpoint.  ``source_precision``
reads it without loading the model: a GGUF file's type from its name or its header, a
checkpoint's ``torch_dtype`` from config.json (for a hub id, from the local HF cache only).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from qmr_core.models.registry import ModelRef

_GGUF_NAME = re.compile(r"[.-]((?:I?Q|TQ)[0-9][A-Za-z0-9_]*|BF16|F16|F32)\.gguf$", re.IGNORECASE)
_FLOATS = {
    "float32": "fp32", "fp32": "fp32", "f32": "fp32", "float16": "fp16", "fp16": "fp16", "f16": "fp16",
    "half": "fp16", "bfloat16": "bf16", "bf16": "bf16",
}


def float_name(dtype: str | None) -> str | None:
    """'bfloat16' / 'torch.float16' / 'F32' -> 'bf16' / 'fp16' / 'fp32'; None when not a float dtype."""
    if not dtype:
        return None
    return _FLOATS.get(str(dtype).lower().removeprefix("torch."))


def _gguf_type(path: Path) -> str | None:
    m = _GGUF_NAME.search(path.name)
    if m:
        return m.group(1).upper()
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        field = reader.fields.get("general.file_type")
        if field is None:
            return None
        name = gguf.LlamaFileType(int(field.parts[field.data[0]][0])).name
    except Exception:  # an unreadable header: the precision is unknown, not an error
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _config_dtype(config: Path) -> str | None:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return float_name(data.get("torch_dtype") or data.get("dtype"))


def _hub_config(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:
        return None
    return Path(found) if isinstance(found, str) else None


def source_precision(ref: ModelRef) -> str | None:
    """'Q4_1', 'bf16', 'fp16', 'fp32', ... for the weights ``ref`` loads from; None when unknown."""
    if ref.kind == "gguf":
        return _gguf_type(Path(ref.source))
    if ref.kind == "checkpoint":
        return _config_dtype(Path(ref.source) / "config.json")
    if ref.kind == "hub":
        config = _hub_config(ref.source)
        return _config_dtype(config) if config else None
    return None
