"""Recognizing a recovery adapter folder (`qmr recover train`'s output) and its identity.

The model registry uses this to resolve `--model ADAPTER_DIR`, so it sits below every stage and imports
neither torch nor peft; `qmr_core.recover.recipe` writes the recipe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from qmr_core.errors import QmrError

RECIPE_FILE = "qmr_recovery.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def is_adapter_dir(path: Path) -> bool:
    return path.is_dir() and (path / ADAPTER_CONFIG).is_file() and (path / RECIPE_FILE).is_file()


def read_recipe(folder: str | Path) -> dict[str, Any]:
    path = Path(folder).expanduser() / RECIPE_FILE
    try:
        recipe = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QmrError(f"{folder} is not a recovery adapter (no {RECIPE_FILE}; train one with `qmr recover train`)") from None
    except (OSError, ValueError) as exc:
        raise QmrError(f"cannot read {path}: {exc}") from exc
    if not isinstance(recipe, dict) or not isinstance(recipe.get("base_model"), str):
        raise QmrError(f"{path} has no base_model: not a qmr recovery recipe")
    return recipe


def adapter_hash(folder: str | Path, base_model: str) -> str:
    """Identity of an adapter: its base model spec and its config and weights (so a retrained adapter in the
    same folder is a different model and never resumes an evaluation of the old one)."""
    folder = Path(folder).expanduser()
    digest = hashlib.sha256(base_model.encode())
    digest.update((folder / ADAPTER_CONFIG).read_bytes())
    weights = next((folder / w for w in ADAPTER_WEIGHTS if (folder / w).is_file()), None)
    if weights is None:
        raise QmrError(f"adapter folder {folder} has no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")
    with weights.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:10]
