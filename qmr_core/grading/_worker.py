"""Worker process main loop: JSON requests on stdin, JSON answers on stdout.

Started by ``bounded.WorkerPool``; the parent kills it when a request runs past its
deadline.  Memory is capped with RLIMIT_AS so a LaTeX bomb fails with MemoryError
instead of exhausting the machine.
"""

from __future__ import annotations

import json
import os
import sys


def _limit_memory() -> None:
    try:
        import resource

        cap = int(os.environ.get("QMR_GRADER_WORKER_MEM_MB", "3072")) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except Exception:
        pass


def _exit_with_parent() -> None:
    """Leave if the parent dies mid-computation (stdin EOF is only seen between requests)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    _limit_memory()
    _exit_with_parent()
    import logging

    logging.disable(logging.CRITICAL)
    from qmr_core.grading import sympy_equivalence

    out.write("READY\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            reply = sympy_equivalence.handle(json.loads(line))
        except (Exception, MemoryError, RecursionError) as e:  # noqa: B014
            reply = {"ok": None, "err": type(e).__name__}
        try:
            out.write(json.dumps(reply) + "\n")
            out.flush()
        except (BrokenPipeError, OSError):
            return


if __name__ == "__main__":
    main()
