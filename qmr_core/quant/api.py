"""`quantize(model, spec, out_dir) -> QuantizedModel`: one face over the library backends.

The checkpoint is written to a temporary sibling folder and renamed into place at the end, so a killed
run never leaves a half-written folder that looks finished. `qmr_quant.json` in the folder carries
the full recipe, which is also what `register_quantized` stores in the `models` table.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import shutil
from collections.abc import Callable
from typing import Protocol, cast
from dataclasses import dataclass, field
from pathlib import Path

from qmr_core import __version__
from qmr_core.benchmarks.registry import Problem
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef, resolve_model
from qmr_core.quant import calibration as calib
from qmr_core.quant.backend_common import BackendResult, LayerProgress
from qmr_core.quant.loading import read_quant_config
from qmr_core.quant.measure import Usage, dir_size, track_usage, weight_files_size
from qmr_core.quant.rtn import choose_group_size, quantizable_linears
from qmr_core.quant.spec import AUTO_GROUP, MeasuredAfter, QuantBackend, QuantSpec, backend_entry
from qmr_core.store import Store
from qmr_core.store.models import replace_model
from qmr_core.store.records import ModelRecord

RECIPE_FILE = "qmr_quant.json"
StageCallback = Callable[[str], None]


@dataclass
class QuantizedModel:
    out_dir: Path
    model_id: str
    name: str
    base_model_id: str
    spec: QuantSpec
    calibration: dict
    backend: str
    backend_version: str
    checkpoint_format: str
    size_bytes: int
    weights_bytes: int
    quant_seconds: float
    peak_rss_bytes: int
    layer_errors: dict[str, float]
    n_params: int | None = None
    config: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def recipe(self) -> dict:
        return {
            "qmr_version": __version__,
            "base_model_id": self.base_model_id,
            "spec": self.spec.as_dict(),
            "calibration": self.calibration,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "checkpoint_format": self.checkpoint_format,
            "quant_seconds": self.quant_seconds,
            "peak_rss_bytes": self.peak_rss_bytes,
            "weights_bytes": self.weights_bytes,
            "n_params": self.n_params,
            "config": self.config,
            "notes": self.notes,
        }

    def model_row(self) -> ModelRecord:
        return ModelRecord(
            model_id=self.model_id, name=self.name, source=str(self.out_dir), base_model_id=self.base_model_id,
            method=self.spec.method, bits=self.spec.bits, group_size=self.spec.group_size, act_bits=self.spec.act_bits,
            is_symmetric=self.spec.is_symmetric, backend=self.backend, backend_version=self.backend_version,
            spec_json=self.spec.to_json(), calib_json=json.dumps(self.calibration, sort_keys=True),
            config_json=json.dumps(
                {**self.config, "checkpoint_format": self.checkpoint_format, "weights_bytes": self.weights_bytes,
                 "notes": self.notes},
                sort_keys=True,
            ),
            n_params=self.n_params, size_bytes=self.size_bytes, quant_seconds=self.quant_seconds,
            peak_rss_bytes=self.peak_rss_bytes, layer_errors_json=json.dumps(self.layer_errors, sort_keys=True),
        )


# -- source model ---------------------------------------------------------------------------------


def source_folder(ref: ModelRef) -> Path | str:
    """A float checkpoint folder the libraries can load (GGUF goes through qmr's cached float copy)."""
    if ref.adapter is not None:
        raise QmrError(
            f"'{ref.name}' is a recovery adapter (LoRA on {ref.base_model_id}); the libraries would quantize its base "
            "without the adapter: quantize the base model instead"
        )
    if ref.rtn is not None:
        raise QmrError(
            f"'{ref.name}' carries a built-in @rtn suffix (a load-time fake quantization); quantize the base model instead"
        )
    if ref.kind == "gguf":
        from qmr_core.quant.float_copy import materialize_gguf

        return materialize_gguf(Path(ref.source))
    if ref.kind == "checkpoint":
        folder = Path(ref.source)
        config = read_quant_config(folder)
        if config is not None:
            raise QmrError(f"{folder} is already quantized ({config.get('quant_method')}); quantize a float checkpoint")
        return folder
    return ref.source  # hub id: loads where a local HF cache has it


def _meta_model(folder: Path | str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(folder)
    except OSError as exc:
        raise QmrError(f"cannot read the model config of {folder}: {str(exc).splitlines()[0]}") from exc
    with torch.device("meta"):
        return config, AutoModelForCausalLM.from_config(config)


def resolve_group(spec: QuantSpec, folder: Path | str) -> tuple[QuantSpec, dict]:
    """Fill in an automatic group size and reject one that does not divide every quantized layer."""
    config, model = _meta_model(folder)
    widths = sorted({m.in_features for _, m in quantizable_linears(model)})
    summary = {
        "architecture": (config.architectures or [type(model).__name__])[0],
        "hidden_size": getattr(config, "hidden_size", None),
        "num_hidden_layers": getattr(config, "num_hidden_layers", None),
        "vocab_size": getattr(config, "vocab_size", None),
        "layer_widths": widths,
    }
    n_params = sum(p.numel() for p in model.parameters())
    summary["n_params"] = n_params
    if spec.group_size == AUTO_GROUP:
        group = choose_group_size(model)
        if group == -1 and spec.method != "smoothquant":
            raise QmrError(f"no group size of 128/64/32 divides the layer widths {widths}; pass --group-size -1 (per channel)")
        spec = spec.with_group(group)
    elif spec.group_size > 0:
        bad = [w for w in widths if w % spec.group_size]
        if bad:
            fits = [g for g in (128, 64, 32) if all(w % g == 0 for w in widths)]
            hint = f"; use --group-size {fits[0]}" if fits else "; use --group-size -1 (per channel)"
            raise QmrError(f"group size {spec.group_size} does not divide the layer widths {bad}{hint}")
    return spec, summary


# -- calibration ----------------------------------------------------------------------------------


class SelfAnswers(Protocol):
    """Writes the model's own answers for `--calib self` (made above the engines: qmr_core.engines.self_answers)."""

    info: dict  # what the answers depend on (prompt, decoding, engine): part of the calibration cache key

    def __call__(self, problems: list[Problem]) -> list[tuple[str, str]]: ...

    def close(self) -> None: ...


SelfAnswersFactory = Callable[[ModelRef, str, int], SelfAnswers]  # (model, device, max new tokens)


def build_calibration(spec: QuantSpec, ref: ModelRef, exclude: list[Problem] | None, device: str = "auto",
                      self_answers: SelfAnswersFactory | None = None) -> calib.CalibrationSet | None:
    if not spec.needs_calibration:
        return None
    kind, _, arg = spec.calib.partition(":")
    if kind == "text":
        return calib.text_calibration(Path(arg).expanduser() if arg else None, spec.n_samples, spec.seq_len)
    if kind == "math":
        return calib.math_calibration(exclude, spec.n_samples, spec.seed)
    if self_answers is None:
        raise QmrError("--calib self needs the model's own answers: pass self_answers "
                       "(qmr_core.engines.self_answers.EngineSelfAnswers)")
    writer = self_answers(ref, device, min(calib.SELF_MAX_NEW_TOKENS, spec.seq_len))
    try:
        return calib.self_calibration(ref.model_id, exclude, spec.n_samples, spec.seed, writer, writer.info)
    finally:
        writer.close()
        gc.collect()


# -- the face -------------------------------------------------------------------------------------


def load_backend(name: str) -> QuantBackend:
    """The backend's module, imported on first use (the spec names it; see quant/spec.py)."""
    return cast("QuantBackend", importlib.import_module(backend_entry(name).module))


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise QmrError(f"output path {out_dir} is a file, not a folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise QmrError(f"output folder {out_dir} is not empty (pass --force to replace it)")
    if not out_dir.parent.is_dir():
        raise QmrError(f"cannot write {out_dir}: folder {out_dir.parent} does not exist")


def _run_backend(folder: Path | str, spec: QuantSpec, calibration: calib.CalibrationSet | None, tmp: Path,
                 on_layer: LayerProgress | None, stage: StageCallback) -> tuple[BackendResult, Usage]:
    """The timed quantization into `tmp` (removed if it fails), then any per-layer error measured outside the timing."""
    backend = load_backend(spec.backend)
    shutil.rmtree(tmp, ignore_errors=True)
    stage(f"quantizing with {spec.backend}")
    gc.collect()  # in a sweep, free the previous cell's model before measuring this one's peak
    try:
        with track_usage() as usage:
            result = backend.quantize(Path(folder) if not isinstance(folder, str) else folder, spec,
                                      calibration.texts if calibration else None, tmp, on_layer)
        if not result.layer_errors and isinstance(backend, MeasuredAfter):
            stage("measuring per-layer weight error")
            result.layer_errors = backend.layer_errors(Path(folder), tmp, spec.method)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result, usage


def _calibration_details(calibration: calib.CalibrationSet | None, spec: QuantSpec, result: BackendResult) -> dict:
    if not calibration:
        return {"source": None}
    details = dict(calibration.details)
    details["n_samples_requested"] = spec.n_samples
    details["seq_len"] = spec.seq_len
    details.update(result.notes.pop("calibration_tokens", None) or {})
    return details


def _finish(qm: QuantizedModel, tmp: Path) -> QuantizedModel:
    """Write the recipe and layer errors into `tmp`, move it into place, and read the folder's identity."""
    (tmp / RECIPE_FILE).write_text(json.dumps(qm.recipe(), indent=2, sort_keys=True), encoding="utf-8")
    (tmp / "qmr_layer_errors.json").write_text(json.dumps(qm.layer_errors, indent=1, sort_keys=True), encoding="utf-8")
    if qm.out_dir.exists():
        shutil.rmtree(qm.out_dir)
    os.replace(tmp, qm.out_dir)
    qm.size_bytes = dir_size(qm.out_dir)
    out_ref = resolve_model(str(qm.out_dir))
    qm.model_id, qm.name = out_ref.model_id, out_ref.name
    return qm


def quantize(
    model: str,
    spec: QuantSpec,
    out_dir: Path,
    *,
    exclude: list[Problem] | None = None,
    force: bool = False,
    on_layer: LayerProgress | None = None,
    on_stage: StageCallback | None = None,
    device: str = "auto",
    self_answers: SelfAnswersFactory | None = None,
) -> QuantizedModel:
    """Quantize `model` (any --model spec) with `spec`, write a checkpoint to out_dir, measure it."""
    stage = on_stage or (lambda _s: None)
    ref = resolve_model(model)
    out_dir = Path(out_dir).expanduser().resolve()
    _check_out_dir(out_dir, force)
    stage("preparing the float model")
    folder = source_folder(ref)
    spec, config = resolve_group(spec, folder)
    stage(f"building the calibration set ({spec.calib})" if spec.needs_calibration else "no calibration needed (rtn)")
    calibration = build_calibration(spec, ref, exclude, device, self_answers)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp{os.getpid()}")
    result, usage = _run_backend(folder, spec, calibration, tmp, on_layer, stage)
    qm = QuantizedModel(
        out_dir=out_dir,
        model_id="",
        name=out_dir.name,
        base_model_id=ref.model_id,
        spec=spec,
        calibration=_calibration_details(calibration, spec, result),
        backend=result.backend,
        backend_version=result.backend_version,
        checkpoint_format=result.checkpoint_format,
        size_bytes=0,
        weights_bytes=weight_files_size(tmp),
        quant_seconds=usage.seconds,
        peak_rss_bytes=usage.peak_rss_bytes,
        layer_errors=result.layer_errors,
        n_params=config.pop("n_params", None),
        config=config,
        notes=result.notes,
    )
    return _finish(qm, tmp)


def read_recipe(out_dir: Path) -> dict | None:
    path = Path(out_dir) / RECIPE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def register_quantized(store: Store, qm: QuantizedModel, base_source: str | None = None) -> None:
    """Write the quantized model's row (replacing an older one) and make sure its base has a row."""
    base = ModelRecord(qm.base_model_id, qm.base_model_id, base_source or qm.base_model_id, "none", n_params=qm.n_params)
    replace_model(store, qm.model_row(), base)


def load_quantized(out_dir: Path) -> QuantizedModel | None:
    """The QuantizedModel a finished `quantize` left in out_dir (None if there is none)."""
    out_dir = Path(out_dir).expanduser().resolve()
    recipe = read_recipe(out_dir)
    if recipe is None or not (out_dir / "config.json").is_file():
        return None
    ref = resolve_model(str(out_dir))
    return QuantizedModel(
        out_dir=out_dir,
        model_id=ref.model_id,
        name=ref.name,
        base_model_id=recipe["base_model_id"],
        spec=QuantSpec.from_dict(recipe["spec"]),
        calibration=recipe.get("calibration") or {},
        backend=recipe["backend"],
        backend_version=recipe["backend_version"],
        checkpoint_format=recipe.get("checkpoint_format", ""),
        size_bytes=dir_size(out_dir),
        weights_bytes=recipe.get("weights_bytes") or weight_files_size(out_dir),
        quant_seconds=recipe.get("quant_seconds") or 0.0,
        peak_rss_bytes=recipe.get("peak_rss_bytes") or 0,
        layer_errors=_layer_errors_file(out_dir),
        n_params=recipe.get("n_params"),
        config=recipe.get("config") or {},
        notes=recipe.get("notes") or {},
    )


def _layer_errors_file(out_dir: Path) -> dict[str, float]:
    path = out_dir / "qmr_layer_errors.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
