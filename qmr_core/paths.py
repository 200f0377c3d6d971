"""Where qmr finds its bundled data, the shared benchmark files and its cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
BUNDLED_DATA_DIR = REPO_DIR / "data"


def data_search_path() -> list[Path]:
    """Directories searched for benchmark files named by a short name (math, math500, gsm8k)."""
    dirs: list[Path] = []
    if env := os.environ.get("QMR_DATA_DIR"):
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs += [REPO_DIR.parent / "shared" / "data", Path.cwd() / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return dirs


def cache_dir() -> Path:
    base = os.environ.get("QMR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "qmr"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
