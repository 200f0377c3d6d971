"""Engine registry: name -> how to resolve a model spec, identify a run, and build the engine."""

from __future__ import annotations

from qmr_core.engines.base import Decoding, Engine, Generation
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef, resolve_model

ENGINES = ("hf", "openai", "vllm")


def _check(engine: str) -> None:
    if engine not in ENGINES:
        raise QmrError(f"unknown engine '{engine}' (available: {', '.join(ENGINES)})")


def model_ref_for(engine: str, model: str, options: dict | None = None) -> ModelRef:
    _check(engine)
    if engine == "openai":
        from qmr_core.engines.openai_api import served_model_ref

        return served_model_ref(model)
    if engine == "vllm":
        from qmr_core.engines.vllm_engine import vllm_model_ref

        return vllm_model_ref(model)
    return resolve_model(model)


def engine_key(engine: str, device: str = "auto", dtype: str = "auto", options: dict | None = None) -> dict:
    """The part of an engine's setup that changes outputs, and so a run's identity."""
    _check(engine)
    if engine == "openai":  # the server address is not identity: a run resumes against a restarted server
        return {"engine": "openai"}
    if engine == "vllm":  # float32 shares the hf engine's key: see vllm_engine.py
        from qmr_core.engines.vllm_engine import vllm_engine_key

        return vllm_engine_key(dtype, (options or {}).get("model"))
    from qmr_core.engines.hf import pick_device, pick_dtype

    resolved = pick_dtype(pick_device(device), dtype)
    return {"engine": "hf", "dtype": str(resolved).removeprefix("torch.")}


def build_engine(engine: str, ref: ModelRef, device: str = "auto", dtype: str = "auto", options: dict | None = None) -> Engine:
    _check(engine)
    if engine == "openai":
        from qmr_core.engines.openai_api import OpenAIEngine, OpenAIOptions

        return OpenAIEngine(ref, OpenAIOptions.from_dict(options))
    if engine == "vllm":
        from qmr_core.engines.vllm_engine import VLLMEngine

        return VLLMEngine(ref, dtype=dtype, options=options)
    from qmr_core.engines.hf import HFEngine

    return HFEngine(ref, device=device, dtype=dtype)


__all__ = ["Decoding", "Engine", "Generation", "ENGINES", "build_engine", "engine_key", "model_ref_for"]
