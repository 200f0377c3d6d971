"""Local transformers engine: batched decoding with left padding on CPU or GPU.

GGUF files load through their float copy in qmr's cache (`qmr_core.quant.float_copy`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
)

from qmr_core.device import pick_device, pick_dtype
from qmr_core.engines.base import Decoding, Generation
from qmr_core.engines.hf_attention import use_sdpa_gqa
from qmr_core.engines.hf_decode import greedy_decode, plain_greedy
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef
from qmr_core.benchmarks.prompts import Messages, plain_text_prompt
from qmr_core.quant import loading as quant_loading
from qmr_core.quant.backend_common import import_quietly
from qmr_core.quant.float_copy import materialize_gguf
from qmr_core.quant.float_copy import quiet_transformers as _quiet_transformers
from qmr_core.quant.rtn import rtn_quantize_

log = logging.getLogger(__name__)




def load_model_and_tokenizer(ref: ModelRef, device: str = "cpu", dtype: torch.dtype = torch.float32):
    if ref.kind == "gguf":
        folder = str(materialize_gguf(Path(ref.source)))
    else:
        folder = ref.source
    extra: dict = {}
    if ref.kind == "checkpoint":  # quantized checkpoints: see qmr_core/quant/loading.py
        folder = str(quant_loading.prepare_checkpoint(Path(folder)))
        extra = quant_loading.load_kwargs(Path(folder))
    try:
        with _quiet_transformers(), quant_loading.no_tqdm():
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **extra)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QmrError(f"cannot load model {ref.name} from {ref.source}: {first}") from exc
    model.to(device)  # type: ignore[arg-type]  # transformers' @wraps(Module.to) hides the bound method from mypy
    model.eval()
    if quant_loading.finish_load(model, Path(folder)) and ref.rtn is not None:
        raise QmrError(f"{ref.name}: built-in RTN cannot be applied on top of an already quantized checkpoint")
    layer_errors: dict[str, float] = {}
    if ref.rtn is not None:
        layer_errors = rtn_quantize_(model, ref.rtn)
    if ref.adapter is not None:  # a recovery LoRA on the (fake-)quantized weights, kept unmerged
        try:
            PeftModel = import_quietly("peft").PeftModel
        except ImportError:
            raise QmrError(f"{ref.name} is a LoRA adapter and needs peft: pip install peft") from None
        model = PeftModel.from_pretrained(model, ref.adapter, is_trainable=False).to(device)
        model.eval()
    return model, tokenizer, layer_errors


class _StepClock(LogitsProcessor):
    """Records a timestamp per decoding step, so each sequence gets the latency of its own last token."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.times.append(time.perf_counter())
        return scores


@dataclass
class HFEngine:
    ref: ModelRef
    device: str = "auto"
    dtype: str = "auto"
    fast_greedy: bool = True  # False: the engine as before issue 15 (generate on padded batches, stock sdpa)

    name = "hf"

    def __post_init__(self) -> None:
        self.device = pick_device(self.device)
        self.torch_dtype = pick_dtype(self.device, self.dtype)
        started = time.perf_counter()
        self.model, self.tokenizer, self.layer_errors = load_model_and_tokenizer(self.ref, self.device, self.torch_dtype)
        self.load_seconds = time.perf_counter() - started
        if self.fast_greedy:
            use_sdpa_gqa(self.model)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = sorted(eos_ids)

    def describe(self) -> dict:
        return {
            "engine": "hf",
            "device": self.device,
            "dtype": str(self.torch_dtype).removeprefix("torch."),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "chat_template": self.has_chat_template,
        }

    def render(self, messages: Messages) -> str:
        if self.has_chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return plain_text_prompt(messages)

    @property
    def supports_json_schema(self) -> bool:
        from qmr_core.engines.constrained import available

        return available()

    def generate(self, batch: list[Messages], decoding: Decoding, sample_idx: int = 0,
                 json_schemas: list[dict] | None = None) -> list[Generation]:
        """``json_schemas``: one per item, enforced token by token (qmr_core.engines.constrained)."""
        if json_schemas is None and decoding.greedy and self.fast_greedy and plain_greedy(self.model.generation_config):
            return self.generate_fast(batch, decoding)
        return self.generate_padded(batch, decoding, sample_idx, json_schemas)

    def _result(self, prompt: str, n_prompt: int, ids: list[int], started: float, finished_at: float) -> Generation:
        stop = next((j for j, t in enumerate(ids) if t in self.eos_ids), None)
        if stop is None:
            n_tokens, reason, body = len(ids), "length", ids
        else:
            n_tokens, reason, body = stop + 1, "eos", ids[:stop]
        return Generation(
            text=self.tokenizer.decode(body, skip_special_tokens=True),
            prompt=prompt,
            n_prompt_tokens=n_prompt,
            n_tokens=n_tokens,
            finish_reason=reason,
            latency_ms=(finished_at - started) * 1000.0,
        )

    def generate_fast(self, batch: list[Messages], decoding: Decoding) -> list[Generation]:
        """Greedy decoding with a shared-prefix KV cache and finished rows dropped (see hf_decode)."""
        if not batch:
            return []
        prompts = [self.render(m) for m in batch]
        rows = [self.tokenizer(p, add_special_tokens=not self.has_chat_template).input_ids for p in prompts]
        started = time.perf_counter()
        decoded = greedy_decode(
            self.model, rows, decoding.max_new_tokens, self.eos_ids, self.tokenizer.pad_token_id, self.device
        )
        return [
            self._result(prompt, len(row), d.tokens, started, d.finished_at)
            for prompt, row, d in zip(prompts, rows, decoded, strict=True)
        ]

    @torch.no_grad()
    def generate_padded(self, batch: list[Messages], decoding: Decoding, sample_idx: int = 0,
                        json_schemas: list[dict] | None = None) -> list[Generation]:
        """`model.generate` on the left-padded batch: the sampling path, and the reference for the fast one."""
        prompts = [self.render(m) for m in batch]
        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=not self.has_chat_template
        ).to(self.device)
        clock = _StepClock()
        kwargs: dict = dict(
            max_new_tokens=decoding.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.eos_ids,
            logits_processor=LogitsProcessorList([clock]),
        )
        if json_schemas is not None:
            from qmr_core.engines.constrained import JsonSchemaProcessor

            kwargs["logits_processor"].append(JsonSchemaProcessor(self.tokenizer, json_schemas, self.eos_ids))
        if decoding.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            torch.manual_seed(decoding.seed * 1_000_003 + sample_idx)
            kwargs.update(do_sample=True, temperature=decoding.temperature, top_p=decoding.top_p, top_k=None)
        started = time.perf_counter()
        out = self.model.generate(**enc, **kwargs)
        finished = time.perf_counter()
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        results = []
        for i, ids in enumerate(new):
            stop = next((j for j, t in enumerate(ids) if t in self.eos_ids), None)
            n_tokens = len(ids) if stop is None else stop + 1
            step_time = clock.times[n_tokens - 1] if 0 < n_tokens <= len(clock.times) else finished
            n_prompt = int(enc["attention_mask"][i].sum().item())
            results.append(self._result(prompts[i], n_prompt, ids, started, step_time))
        return results
