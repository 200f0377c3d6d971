"""`qmr recover train`: a LoRA adapter on the frozen quantized model, trained with trl (SFT or DPO).

It runs on the GPU when one is present (fp32 weights, bf16 autocast; fp16 where the GPU lacks bf16), else on
the CPU in fp32; `qmr_core.device.pick_train_placement` decides.

The quantized model is loaded exactly as evaluation loads it (built-in RTN gives fake-quantized float
weights), so the adapter learns to correct the model that was measured. trl wraps the model with the
LoRA from `peft_config`; for DPO its reference is the same model with the adapter disabled, i.e. the
frozen quantized model itself.

EOS: SFT appends it only to a continuation that ended (sft_features). trl's DPO trainer appends it to
every chosen and rejected continuation and has no per-example switch; the examples record whether
each side ended (chosen_complete, rejected_complete), so a study can filter on it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from qmr_core.device import TrainPlacement, pick_train_placement
from qmr_core.errors import QmrError
from qmr_core.recover.recipe import write_recipe
from qmr_core.store import Store
from qmr_core.store.diagnoses import run_model_id
from qmr_core.store.records import RecoveryExample, RecoverySet
from qmr_core.store.recovery import examples_of_kind, sets_with_prefix, write_recovery

OBJECTIVES = ("sft", "dpo")
KINDS = ("targeted", "control")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MAX_LENGTH = 2048  # prompt + continuation tokens; the demo's longest is well under 1024


@dataclass(frozen=True)
class TrainParams:
    kind: str = "targeted"
    objective: str = "sft"
    lr: float = 2e-4
    rank: int = 8
    alpha: int = 16
    beta: float = 0.1  # DPO only
    epochs: float = 1.0
    max_steps: int | None = None
    max_minutes: float | None = None
    batch_size: int = 1
    seed: int = 0

    def check(self) -> None:
        if self.kind not in KINDS:
            raise QmrError(f"--kind must be one of {', '.join(KINDS)}, got '{self.kind}'")
        if self.objective not in OBJECTIVES:
            raise QmrError(f"--objective must be one of {', '.join(OBJECTIVES)}, got '{self.objective}'")
        if self.lr <= 0 or self.rank < 1 or self.alpha <= 0 or self.beta <= 0 or self.epochs <= 0 or self.batch_size < 1:
            raise QmrError("need --lr > 0, --rank >= 1, --alpha > 0, --beta > 0, --epochs > 0, --batch-size >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise QmrError("--max-steps must be >= 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise QmrError("--max-minutes must be > 0")

    def short_hash(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:6]


@dataclass
class TrainResult:
    adapter_id: str
    adapter_dir: Path
    model_id: str
    n_train: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    stopped_by_time: bool = False

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


def _set_row(store: Store, set_id: str) -> RecoverySet:
    rows = sets_with_prefix(store, set_id)
    if not rows:
        raise QmrError(f"no recovery set '{set_id}' in {store.path} (build one with `qmr recover build`)")
    if len(rows) > 1 and rows[0].set_id != set_id:
        raise QmrError(f"set prefix '{set_id}' is ambiguous: {', '.join(r.set_id for r in rows[:5])}")
    return rows[0]


def _callbacks(max_minutes: float | None, on_step: Callable[[int, float], None] | None):
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        """Per-step losses from the trainer's logs, and a wall-clock stop."""

        def __init__(self) -> None:
            self.losses: list[float] = []
            self.started = time.monotonic()
            self.stopped_by_time = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))
                if on_step:
                    on_step(state.global_step, float(logs["loss"]))

        def on_step_end(self, args, state, control, **kwargs):
            if max_minutes is not None and time.monotonic() - self.started >= max_minutes * 60:
                self.stopped_by_time = True
                control.should_training_stop = True
            return control

    return Recorder()


def _lora_config(model, params: TrainParams):
    from peft import LoraConfig
    from torch import nn

    present = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    targets = [t for t in LORA_TARGETS if t in present]
    if not targets:
        raise QmrError(f"the model has none of the projections LoRA targets ({', '.join(LORA_TARGETS)})")
    return LoraConfig(r=params.rank, lora_alpha=params.alpha, lora_dropout=0.0, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")


def sft_features(tokenizer, row: RecoveryExample) -> dict:
    """prompt + completion as token ids and a completion mask, tokenized the way trl does.

    trl appends EOS to every completion; a full-precision trace cut by the token limit would then
    teach the model to stop wherever the limit fell. EOS goes only after a continuation that ended
    (NULL, on sets built before this was recorded, counts as ended).
    """
    prompt_ids = tokenizer(row.prompt)["input_ids"]
    ids = list(tokenizer(row.prompt + row.chosen)["input_ids"])
    start = 0  # where the completion starts: tokens can merge across the prompt's end
    while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
        start += 1
    eos = tokenizer.eos_token_id
    if row.chosen_complete is not False and eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
    return {"input_ids": ids, "completion_mask": [0] * start + [1] * (len(ids) - start)}


def _trainer(model, tokenizer, rows: list[RecoveryExample], params: TrainParams, lora, work_dir: str, recorder,
             placement: TrainPlacement):
    from datasets import Dataset

    mixed = placement.mixed_precision
    common: dict[str, Any] = dict(
        output_dir=work_dir, learning_rate=params.lr, num_train_epochs=params.epochs,
        max_steps=params.max_steps or -1, per_device_train_batch_size=params.batch_size, logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=placement.use_cpu, bf16=mixed == "bf16", fp16=mixed == "fp16",
        gradient_checkpointing=False,
        seed=params.seed, data_seed=params.seed, disable_tqdm=True, dataloader_num_workers=0, max_length=MAX_LENGTH,
    )
    if params.objective == "sft":
        from trl import SFTConfig, SFTTrainer

        data = Dataset.from_list([sft_features(tokenizer, r) for r in rows])
        args = SFTConfig(**common, completion_only_loss=True, packing=False)
        return SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                          peft_config=lora, callbacks=[recorder])
    from trl import DPOConfig, DPOTrainer

    data = Dataset.from_list([{"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for r in rows])
    dpo_args = DPOConfig(**common, beta=params.beta)
    return DPOTrainer(model=model, ref_model=None, args=dpo_args, train_dataset=data, processing_class=tokenizer,
                      peft_config=lora, callbacks=[recorder])


def _require_training_libraries() -> None:
    missing = [m for m in ("peft", "trl") if find_spec(m) is None]
    if missing:
        raise QmrError(f"recovery training needs peft and trl: pip install peft trl ({', '.join(missing)} missing)")
    from qmr_core.quant.backend_common import import_quietly

    import_quietly("peft")  # once imported quietly, trl's own import of it prints nothing


def _examples(store: Store, set_id: str, kind: str) -> tuple[RecoverySet, list[RecoveryExample]]:
    """The set's row and its examples of `kind`."""
    rec_set = _set_row(store, set_id)
    rows = examples_of_kind(store, rec_set.set_id, kind)
    if not rows:
        raise QmrError(f"recovery set {rec_set.set_id} has no {kind} examples")
    return rec_set, rows


def _train(model, tokenizer, rows: list[RecoveryExample], params: TrainParams, lora, recorder, placement: TrainPlacement,
           out_dir: Path) -> tuple[int, float]:
    """Train and save the adapter to out_dir; returns (optimizer steps, seconds)."""
    import datasets
    from transformers import PrinterCallback

    from qmr_core.quant.float_copy import quiet_transformers

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="qmr-recover-") as work, quiet_transformers():
        trainer = _trainer(model, tokenizer, rows, params, lora, work, recorder, placement)
        trainer.remove_callback(PrinterCallback)  # per-step losses come through `on_step` instead
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QmrError(f"cannot create {out_dir}: {exc}") from exc
        trainer.model.save_pretrained(str(out_dir))
    return int(trainer.state.global_step), seconds


def _hparams(params: TrainParams, lora, placement: TrainPlacement, stopped_by_time: bool) -> dict:
    hparams = asdict(params) | {"target_modules": sorted(lora.target_modules),
                                "lora_dropout": 0.0, "max_length": MAX_LENGTH, "dtype": "float32", "device": placement.device,
                                "stopped_by_time": stopped_by_time}
    if placement.mixed_precision:
        hparams["mixed_precision"] = placement.mixed_precision
    return hparams


def _record(store: Store, result: TrainResult, params: TrainParams, set_id: str, quant_run_id: str,
            quant_model_id: str, hparams: dict) -> None:
    write_recovery(store, {
        "adapter_id": result.adapter_id, "set_id": set_id, "kind": params.kind, "objective": params.objective,
        "quant_model_id": quant_model_id, "model_id": result.model_id, "parent_run_id": quant_run_id,
        "hparams_json": json.dumps(hparams, sort_keys=True), "n_train": result.n_train, "steps": result.steps,
        "train_seconds": result.seconds, "final_loss": result.final_loss, "losses_json": json.dumps(result.losses),
        "adapter_path": str(result.adapter_dir),  # eval_run_id / summary_json stay: a retrained identical adapter keeps its evaluation
    })


def train_adapter(
    store: Store,
    set_id: str,
    params: TrainParams,
    out_dir: Path | None = None,
    on_step: Callable[[int, float], None] | None = None,
    device: str = "auto",
) -> TrainResult:
    params.check()
    placement = pick_train_placement(device)
    _require_training_libraries()
    import torch

    from qmr_core.engines.hf import load_model_and_tokenizer
    from qmr_core.models.registry import resolve_model
    from qmr_core.store.queries import run_model_spec

    rec_set, rows = _examples(store, set_id, params.kind)
    set_id, quant_run_id = rec_set.set_id, rec_set.quant_run_id
    base_spec = run_model_spec(store, quant_run_id)
    ref = resolve_model(base_spec)
    if ref.adapter:
        raise QmrError(f"run {quant_run_id} already used a recovery adapter; train on a quantized model's run")
    quant_model_id = run_model_id(store, quant_run_id)
    out_dir = Path(out_dir) if out_dir else (
        store.path.parent / "recovery" / set_id / f"{params.kind}-{params.objective}-{params.short_hash()}")

    model, tokenizer, _ = load_model_and_tokenizer(ref, placement.device, torch.float32)
    model.requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lora = _lora_config(model, params)
    recorder = _callbacks(params.max_minutes, on_step)
    steps, seconds = _train(model, tokenizer, rows, params, lora, recorder, placement, out_dir)
    hparams = _hparams(params, lora, placement, recorder.stopped_by_time)
    write_recipe(out_dir, {
        "base_model": base_spec, "set_id": set_id, "kind": params.kind, "objective": params.objective,
        "parent_run_id": quant_run_id, "quant_model_id": quant_model_id, "hparams": hparams,
        "train_problem_ids": sorted({r.problem_id for r in rows}), "steps": steps, "train_seconds": seconds,
    })
    recovered = resolve_model(str(out_dir))
    adapter_id = recovered.model_id.rsplit("+lora-", 1)[1]
    result = TrainResult(adapter_id, out_dir.resolve(), recovered.model_id, len(rows), steps, seconds,
                         recorder.losses, recorder.stopped_by_time)
    _record(store, result, params, set_id, quant_run_id, quant_model_id, hparams)
    return result
