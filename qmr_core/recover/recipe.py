"""The recipe saved next to a recovery adapter (`qmr_recovery.json`): what it sits on and how it was made.

Reading and recognizing it lives in `qmr_core.models.adapters` (the model registry needs it); this module writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qmr_core.models.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS, RECIPE_FILE, adapter_hash, is_adapter_dir, read_recipe

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "RECIPE_FILE", "adapter_hash", "is_adapter_dir", "read_recipe", "write_recipe"]


def write_recipe(folder: Path, recipe: dict[str, Any]) -> None:
    (folder / RECIPE_FILE).write_text(json.dumps(recipe, indent=2, sort_keys=True), encoding="utf-8")
