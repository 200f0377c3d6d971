"""What a quantization costs and does: peak memory, wall time, size on disk, per-layer weight error."""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Usage:
    seconds: float = 0.0
    peak_rss_bytes: int = 0


@contextlib.contextmanager
def track_usage(interval_s: float = 0.05) -> Iterator[Usage]:
    """Wall time and peak resident memory of this process while the block runs.

    The process-lifetime peak (ru_maxrss) would include whatever ran before (a sweep's earlier cells),
    so a sampling thread reads the current RSS instead.
    """
    usage = Usage(peak_rss_bytes=current_rss())
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            usage.peak_rss_bytes = max(usage.peak_rss_bytes, current_rss())

    thread = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    thread.start()
    try:
        yield usage
    finally:
        stop.set()
        thread.join()
        usage.seconds = time.perf_counter() - started
        usage.peak_rss_bytes = max(usage.peak_rss_bytes, current_rss())


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def weight_files_size(path: Path) -> int:
    """Bytes of the weight files alone (safetensors / bin), the number that compares across formats."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and f.suffix in (".safetensors", ".bin"))


@torch.no_grad()
def relative_error(reference: torch.Tensor, quantized: torch.Tensor) -> float:
    """||W - Q(W)||_F / ||W||_F, in float32."""
    ref = reference.detach().float()
    norm = ref.norm().item()
    return (ref - quantized.detach().float()).norm().item() / norm if norm else 0.0
