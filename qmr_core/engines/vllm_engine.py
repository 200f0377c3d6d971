"""`--engine vllm`: qmr starts vLLM servers for the model, evaluates through the OpenAI engine, stops them.

The prompt is rendered here exactly as the hf engine renders it (the model folder's chat template, or
qmr's plain-text layout without one) and sent as text to /v1/completions with the same special-token
rule, so both engines store the same prompt and the model sees the same tokens.

Run identity. The servers are an engine detail, never part of a run's id. At float32, vLLM's greedy
outputs equalled the hf engine's on the demo workload (SmolLM2-135M, 76 prompts, 96 tokens: 76/76 on
a 2-core CPU), so a float32 vLLM run shares its id with the float32 hf run and either engine resumes
the other. Other dtypes (bfloat16: 59/76 equal) get an id of their own: {"engine": "vllm", "dtype": ...}.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from qmr_core.engines.base import Decoding, Generation
from qmr_core.engines.completions import Completions
from qmr_core.engines.openai_api import OpenAIEngine
from qmr_core.engines.openai_options import OpenAIOptions
from qmr_core.engines.vllm_server import (
    VLLMServer,
    has_gpu,
    split_vllm_args,
    start_servers,
    vllm_python,
)
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef, resolve_model
from qmr_core.benchmarks.prompts import Messages, plain_text_prompt

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}
DEFAULT_CONCURRENCY = 128  # requests in flight per server: vLLM batches them continuously
START_TIMEOUT_S = 1800.0  # model download + load + compile warm-up of a large model


def is_quantized_checkpoint(model: str | None) -> bool:
    config = Path(model).expanduser() / "config.json" if model else None
    try:
        return bool(config and config.is_file() and "quantization_config" in json.loads(config.read_text()))
    except (OSError, ValueError):
        return False


def vllm_dtype(dtype: str = "auto", model: str | None = None) -> str:
    """auto: bfloat16 on GPU; on CPU float32 (exact), except for quantized checkpoints: vLLM's CPU kernels
    for packed weights (cpu_gemm_wna16) take bfloat16/float16 activations only."""
    if dtype == "auto":
        return "bfloat16" if has_gpu() or is_quantized_checkpoint(model) else "float32"
    try:
        return DTYPES[dtype]
    except KeyError:
        raise QmrError(f"unknown dtype '{dtype}' (float32, bfloat16, float16, auto)") from None


def vllm_engine_key(dtype: str = "auto", model: str | None = None) -> dict:
    resolved = vllm_dtype(dtype, model)
    if resolved == "float32":  # decodes as the hf engine does (see the module docstring)
        return {"engine": "hf", "dtype": "float32"}
    return {"engine": "vllm", "dtype": resolved}


def vllm_model_ref(spec: str) -> ModelRef:
    """The store identity is the local one (a vLLM run joins the hf runs and `qmr quantize`'s record)."""
    spec = spec.strip()
    if "@" in spec:
        raise QmrError(f"'{spec}': built-in RTN (@rtn-...) is applied on load by --engine hf; for vLLM make a "
                       "checkpoint with `qmr quantize --method rtn ...` and pass its folder")
    local = resolve_model(spec)
    if local.adapter:
        raise QmrError(f"{spec} is a recovery adapter; evaluate it with --engine hf")
    return ModelRef(model_id=local.model_id, name=local.name, source=local.source, kind=local.kind,
                    base_model_id=local.base_model_id)


def model_location(ref: ModelRef) -> str:
    """What vLLM loads: qmr's cached float copy of a GGUF alias, the checkpoint folder, or the hub id."""
    if ref.kind == "gguf":
        from qmr_core.engines.hf import materialize_gguf

        return str(materialize_gguf(Path(ref.source)))
    if ref.kind == "checkpoint":
        from qmr_core.quant.loading import prepare_checkpoint

        return str(prepare_checkpoint(Path(ref.source)))
    return ref.source


def replica_gpus(replicas: int) -> list[str | None]:
    """Split the visible GPUs evenly over the replicas (none on CPU, or with a single replica)."""
    if replicas == 1 or not has_gpu():
        return [None] * replicas
    visible = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    if not visible:
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        visible = [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]
    per = len(visible) // replicas
    if per == 0:
        raise QmrError(f"--replicas {replicas} needs at least {replicas} GPUs ({len(visible)} visible)")
    return [",".join(visible[i * per:(i + 1) * per]) for i in range(replicas)]


class Renderer:
    """The hf engine's prompt rendering, from the model folder's tokenizer."""

    def __init__(self, folder: str):
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise QmrError(f"cannot read the tokenizer of {folder}: {str(exc).splitlines()[0]}") from exc
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))

    def __call__(self, messages: Messages) -> str:
        if self.has_chat_template:
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return plain_text_prompt(messages)


def vllm_client(ref: ModelRef, renderer: Renderer, urls: list[str], options: dict | None = None) -> OpenAIEngine:
    """The OpenAI engine as --engine vllm uses it on servers that serve ``ref`` under ``ref.name``."""
    options = options or {}
    return OpenAIEngine(
        ref,
        OpenAIOptions.from_dict({
            "base_url": urls,
            "concurrency": options.get("concurrency") or DEFAULT_CONCURRENCY,
            "max_retries": options.get("max_retries"),
            "timeout_s": options.get("timeout_s"),
        }),
        served_model=ref.name,
        prompt_renderer=renderer,
        add_special_tokens=not renderer.has_chat_template,
    )


class VLLMEngine:
    """Managed vLLM servers plus the OpenAI engine that talks to them; ``close`` stops the servers."""

    name = "vllm"

    def __init__(self, ref: ModelRef, dtype: str = "auto", options: dict | None = None):
        options = dict(options or {})
        vllm_python()  # no environment: say so before loading anything
        self.ref, self.dtype = ref, vllm_dtype(dtype, ref.source if ref.kind == "checkpoint" else None)
        self.args = split_vllm_args(options.get("vllm_args"))
        replicas = int(options.get("replicas") or 1)
        if replicas < 1:
            raise QmrError("--replicas must be >= 1")
        self.location = model_location(ref)
        renderer = Renderer(self.location)
        log_stem = str(options.get("log_stem") or "qmr.duckdb.vllm")
        self.servers = [VLLMServer(self.location, ref.name, self.dtype, Path(f"{log_stem}-{i}.log"), self.args, gpus)
                        for i, gpus in enumerate(replica_gpus(replicas))]
        self.client: OpenAIEngine | None = None
        self._previous_sigterm: Any = None
        self._catch_sigterm()
        try:
            start_servers(self.servers, float(options.get("start_timeout_s") or START_TIMEOUT_S))
            self.client = vllm_client(ref, renderer, [s.url for s in self.servers], options)
        except BaseException:
            self.close()
            raise

    def _catch_sigterm(self) -> None:
        """SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C, so the servers are stopped on the way out."""
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def stream(self, requests: list[tuple[Messages, int]], decoding: Decoding,
               response_format: dict | None = None) -> Completions:
        assert self.client is not None
        return self.client.stream(requests, decoding, response_format)

    def generate(self, batch: list[Messages], decoding: Decoding, sample_idx: int = 0,
                 response_format: dict | None = None) -> list[Generation]:
        assert self.client is not None
        return self.client.generate(batch, decoding, sample_idx, response_format)

    def describe(self) -> dict:
        described = self.client.describe() if self.client else {}
        return described | {
            "engine": "vllm",
            "dtype": self.dtype,
            "model_path": self.location,
            "vllm_args": self.args,
            "replicas": len(self.servers),
            "server_logs": [str(s.log) for s in self.servers],
            "server_pids": [s.proc.pid for s in self.servers if s.proc],
        }

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        for server in self.servers:
            server.stop()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
