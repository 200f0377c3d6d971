"""Loading quantized checkpoints with plain transformers: qmr's own and those made elsewhere.

- compressed-tensors (llm-compressor): loaded with the weights dequantized to float once
  (`CompressedTensorsConfig(dequantize=True)`), which decodes about twice as fast on CPU as
  decompressing in every forward (17.8 vs 7.6 tok/s for SmolLM2 in the library survey,
  shared/notes/quantization-libraries.md). For weight-only schemes the weight fake-quantization left attached is then switched off:
  re-quantizing an already dequantized weight with its own scale gives it back exactly, so this
  changes no number (tests/unit/test_quant_loading.py checks the logits). Activation quantization
  (W8A8) stays on, because it is part of the method.
- GPTQ / AWQ format (GPTQModel, AutoGPTQ, AutoAWQ): transformers hands these to GPTQModel's kernels
  (needs `gptqmodel` and `optimum`). AutoGPTQ writes its weights as ``gptq_model-4bit-128g.safetensors``
  and older tools keep the recipe only in quantize_config.json; qmr then loads through a cached view
  folder of symlinks with the names transformers expects, leaving the original untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import json
import os
import shutil
import warnings
from pathlib import Path

from qmr_core.errors import QmrError
from qmr_core.paths import cache_dir
from qmr_core.quant.backend_common import no_tqdm  # noqa: F401  (used by engines.hf while loading)

WEIGHT_NAMES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def read_quant_config(folder: Path) -> dict | None:
    """The checkpoint's quantization recipe (config.json, else quantize_config.json / quant_config.json)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(config.get("quantization_config"), dict):
        return config["quantization_config"]
    for name in ("quantize_config.json", "quant_config.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise QmrError(f"{path} is not valid JSON: {exc}") from exc
            data.setdefault("quant_method", "awq" if "w_bit" in data or "version" in data else "gptq")
            return _normalise_awq(data)
    return None


def _normalise_awq(data: dict) -> dict:
    """AutoAWQ's quant_config.json spells the fields differently from transformers' AwqConfig."""
    if "w_bit" in data:
        data = {
            "quant_method": "awq",
            "bits": data["w_bit"],
            "group_size": data.get("q_group_size", 128),
            "zero_point": data.get("zero_point", True),
            "version": str(data.get("version", "gemm")).lower(),
        }
    return data


def quant_method(folder: Path) -> str | None:
    config = read_quant_config(folder)
    return str(config.get("quant_method")) if config else None


def _needs_view(folder: Path, config: dict | None) -> bool:
    if config is None:
        return False
    has_standard = any((folder / n).is_file() for n in WEIGHT_NAMES)
    try:
        in_config = isinstance(json.loads((folder / "config.json").read_text())["quantization_config"], dict)
    except (OSError, ValueError, KeyError, TypeError):
        in_config = False
    return not has_standard or not in_config


def prepare_checkpoint(folder: Path) -> Path:
    """The folder itself, or for AutoGPTQ/AutoAWQ layouts a cached view transformers can load."""
    folder = folder.resolve()
    config = read_quant_config(folder)
    if not _needs_view(folder, config):
        return folder
    weights = sorted(folder.glob("*.safetensors"))
    if len(weights) != 1:
        raise QmrError(
            f"quantized checkpoint {folder} has {len(weights)} .safetensors files and none named model.safetensors; "
            "qmr can adapt single-file AutoGPTQ/AutoAWQ checkpoints only"
        )
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in sorted(folder.iterdir()) if p.is_file())
    key = hashlib.sha256(f"{folder}|{stamp}".encode()).hexdigest()[:16]
    view = cache_dir() / "checkpoint-views" / f"{folder.name}-{key}"
    if (view / "config.json").is_file():
        return view
    tmp = view.with_name(view.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for item in folder.iterdir():
        if item.is_file() and item.name != "config.json" and item != weights[0]:
            (tmp / item.name).symlink_to(item)
    (tmp / "model.safetensors").symlink_to(weights[0])
    model_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model_config["quantization_config"] = config
    (tmp / "config.json").write_text(json.dumps(model_config, indent=2), encoding="utf-8")
    try:
        os.replace(tmp, view)
    except OSError:  # made by another process meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return view


def load_kwargs(folder: Path) -> dict:
    """Extra from_pretrained arguments for a quantized checkpoint."""
    method = quant_method(folder)
    if method == "compressed-tensors":
        try:
            from transformers import CompressedTensorsConfig
        except ImportError as exc:  # pragma: no cover - transformers without compressed-tensors support
            raise QmrError(f"loading {folder} needs transformers' compressed-tensors support: {exc}") from exc
        # transformers warns that the checkpoint's own config wins except for the loading attributes,
        # which is exactly the intent here
        warnings.filterwarnings("ignore", message="You passed `quantization_config`", category=UserWarning)
        return {"quantization_config": CompressedTensorsConfig(dequantize=True)}
    if method in ("gptq", "awq"):
        for module in ("gptqmodel", "optimum"):
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    __import__(module)  # GPTQModel prints a banner and environment notes on import
            except ImportError:
                raise QmrError(
                    f"{folder} is a {method.upper()} checkpoint; loading it needs the '{module}' package "
                    "(pip install -e '.[quant]' after torch)"
                ) from None
        set_gptqmodel_log_level(logging.ERROR)  # it reports its kernel choice at INFO on every load
    return {}


def set_gptqmodel_log_level(level: int) -> None:
    from gptqmodel.utils.logger import setup_logger

    setup_logger().setLevel(level)


def has_activation_quant(config: dict | None) -> bool:
    groups = (config or {}).get("config_groups") or {}
    return any(isinstance(g, dict) and g.get("input_activations") for g in groups.values())


def finish_load(model, folder: Path) -> bool:
    """Switch off the redundant weight fake-quantization of a dequantized weight-only checkpoint.

    Returns True if the model is a quantized checkpoint (of any format)."""
    config = read_quant_config(folder)
    if config is None:
        return False
    if config.get("quant_method") == "compressed-tensors" and not has_activation_quant(config):
        from compressed_tensors.quantization.lifecycle.helpers import disable_quantization

        model.apply(disable_quantization)
    return True
