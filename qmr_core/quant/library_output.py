"""Send what the quantization libraries print (banners, tqdm bars, INFO logs, warnings) to a log file.

llm-compressor, compressed-tensors and GPTQModel write hundreds of lines to stdout and stderr, from
Python and from native code. qmr redirects both file descriptors to a log for the duration of a
backend call and draws its own progress on a console bound to the real terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console


@contextlib.contextmanager
def library_output_to(log_path: Path) -> Iterator[Console]:
    """Within the block fd 1 and 2 go to log_path; the yielded console still reaches the terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield Console(file=terminal, soft_wrap=True)
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        terminal.close()
