"""The types hold: mypy passes on qmr_core and qmr_tui with the configuration in pyproject.toml ([tool.mypy])."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_mypy_passes_on_the_core_and_the_tui():
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is missing: install the dev extra")
    # .mypy_cache (gitignored) keeps later runs incremental: a cold run takes about a minute of CPU.
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(REPO / ".mypy_cache")],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, "mypy found type errors:\n" + done.stdout[-8000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout, done.stdout[-2000:]
