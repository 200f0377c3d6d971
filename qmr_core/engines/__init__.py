"""Engines: chat messages in, generations out (base.py), chosen by name through registry.py."""

from __future__ import annotations

from qmr_core.engines.base import Decoding, Engine, Generation
from qmr_core.engines.registry import ENGINES, EngineEntry, engine_entry, register_engine
from qmr_core.models.registry import ModelRef


def model_ref_for(engine: str, model: str, options: dict | None = None) -> ModelRef:
    return engine_entry(engine).model_ref(model, options or {})


def engine_key(engine: str, device: str = "auto", dtype: str = "auto", options: dict | None = None) -> dict:
    """The part of an engine's setup that changes outputs, and so a run's identity."""
    return engine_entry(engine).key(device, dtype, options or {})


def build_engine(engine: str, ref: ModelRef, device: str = "auto", dtype: str = "auto", options: dict | None = None) -> Engine:
    return engine_entry(engine).build(ref, device, dtype, options or {})


__all__ = ["Decoding", "Engine", "EngineEntry", "Generation", "ENGINES", "build_engine", "engine_entry", "engine_key",
           "model_ref_for", "register_engine"]
