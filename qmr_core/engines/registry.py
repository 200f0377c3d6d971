"""The engine registry: name -> how to resolve a model spec, identify a run, and build the engine.

An engine is added by writing its module (a class with the `Engine` face of base.py) and one
`register_engine` call below; `--engine`, the run identity, the judges (``NAME:MODEL``) and the help
texts all read this table. The factories import their engine's module on first use, so naming an
engine loads nothing the others need (torch for hf, httpx for openai, the vLLM servers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qmr_core.engines.base import Engine
from qmr_core.models.registry import ModelRef, resolve_model
from qmr_core.registry import Registry

ModelRefFactory = Callable[[str, dict], ModelRef]  # (model spec, engine options)
KeyFactory = Callable[[str, str, dict], dict]  # (device, dtype, engine options) -> the run identity's engine part
EngineFactory = Callable[[ModelRef, str, str, dict], Engine]  # (model, device, dtype, engine options)


@dataclass(frozen=True)
class EngineEntry:
    name: str
    model_ref: ModelRefFactory
    key: KeyFactory
    build: EngineFactory


REGISTRY: Registry[EngineEntry] = Registry("engine")
ENGINES = REGISTRY.names  # a live view: `name in ENGINES`, `', '.join(ENGINES)`


def register_engine(entry: EngineEntry) -> None:
    REGISTRY.register(entry.name, entry)


def engine_entry(name: str) -> EngineEntry:
    return REGISTRY.get(name)


# -- the built-in engines ---------------------------------------------------------------------


def _hf_key(device: str, dtype: str, options: dict) -> dict:
    from qmr_core.engines.hf import pick_device, pick_dtype

    resolved = pick_dtype(pick_device(device), dtype)
    return {"engine": "hf", "dtype": str(resolved).removeprefix("torch.")}


def _hf_build(ref: ModelRef, device: str, dtype: str, options: dict) -> Engine:
    from qmr_core.engines.hf import HFEngine

    return HFEngine(ref, device=device, dtype=dtype)


def _openai_ref(model: str, options: dict) -> ModelRef:
    from qmr_core.engines.openai_options import served_model_ref

    return served_model_ref(model)


def _openai_build(ref: ModelRef, device: str, dtype: str, options: dict) -> Engine:
    from qmr_core.engines.openai_api import OpenAIEngine
    from qmr_core.engines.openai_options import OpenAIOptions

    return OpenAIEngine(ref, OpenAIOptions.from_dict(options))


def _vllm_ref(model: str, options: dict) -> ModelRef:
    from qmr_core.engines.vllm_engine import vllm_model_ref

    return vllm_model_ref(model)


def _vllm_key(device: str, dtype: str, options: dict) -> dict:  # float32 shares the hf engine's key: see vllm_engine.py
    from qmr_core.engines.vllm_engine import vllm_engine_key

    return vllm_engine_key(dtype, options.get("model"))


def _vllm_build(ref: ModelRef, device: str, dtype: str, options: dict) -> Engine:
    from qmr_core.engines.vllm_engine import VLLMEngine

    return VLLMEngine(ref, dtype=dtype, options=options)


register_engine(EngineEntry("hf", lambda model, _options: resolve_model(model), _hf_key, _hf_build))
# the server address is not identity: a run resumes against a restarted server
register_engine(EngineEntry("openai", _openai_ref, lambda _device, _dtype, _options: {"engine": "openai"}, _openai_build))
register_engine(EngineEntry("vllm", _vllm_ref, _vllm_key, _vllm_build))
