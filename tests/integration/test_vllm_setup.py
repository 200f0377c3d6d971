"""`--engine vllm` set-up that needs no vLLM: finding the environment, flags, identity, one-line errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from qmr_core.engines import engine_key, model_ref_for
from qmr_core.engines.vllm_engine import vllm_engine_key
from qmr_core.engines.vllm_server import VLLMServer, split_vllm_args, vllm_python
from qmr_core.errors import QmrError

REPO = Path(__file__).resolve().parents[2]


def test_qmr_vllm_names_a_python_a_vllm_script_or_an_environment(tmp_path, monkeypatch):
    env = tmp_path / "venv"
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python"
    python.write_text("")
    script = env / "bin" / "vllm"
    script.write_text(f"#!{python}\nimport sys\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    for given in (python, script, env):
        monkeypatch.setenv("QMR_VLLM", str(given))
        assert vllm_python() == str(python)
    monkeypatch.setenv("QMR_VLLM", str(tmp_path / "nowhere"))
    with pytest.raises(QmrError, match="no such file"):
        vllm_python()
    monkeypatch.delenv("QMR_VLLM")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(QmrError, match="QMR_VLLM"):
        vllm_python()


def test_vllm_args_pass_through_but_not_what_qmr_sets():
    assert split_vllm_args('--tensor-parallel-size 2 --max-model-len=8192') == [
        "--tensor-parallel-size", "2", "--max-model-len=8192"]
    assert split_vllm_args(None) == []
    with pytest.raises(QmrError, match="qmr's own --dtype"):
        split_vllm_args("--dtype=bfloat16")
    with pytest.raises(QmrError, match="qmr sets --port"):
        split_vllm_args("--port 9000")
    with pytest.raises(QmrError, match="--vllm-args"):
        split_vllm_args('--chat-template "unclosed')


def test_server_command_on_cpu_adds_memory_defaults_unless_given(tmp_path, monkeypatch):
    monkeypatch.setattr("qmr_core.engines.vllm_server.has_gpu", lambda: False)
    server = VLLMServer("/m", "m", "float32", tmp_path / "log", port=1234)
    cmd = server.command("/py")
    assert cmd[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--dtype") + 1] == "float32" and cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.3"
    mine = VLLMServer("/m", "m", "float32", tmp_path / "log", ["--gpu-memory-utilization=0.5"], port=1234)
    assert mine.command("/py").count("--gpu-memory-utilization") == 0 and "--gpu-memory-utilization=0.5" in mine.command("/py")


def test_only_float32_shares_the_hf_engines_run_identity():
    assert vllm_engine_key("float32") == engine_key("hf", device="cpu", dtype="float32")
    assert vllm_engine_key("bf16") == {"engine": "vllm", "dtype": "bfloat16"}
    with pytest.raises(QmrError, match="unknown dtype"):
        vllm_engine_key("int3")
    with pytest.raises(QmrError, match="qmr quantize"):
        model_ref_for("vllm", "smollm2-135m@rtn-w4g64")


def test_cli_without_a_vllm_environment_is_one_error_line(tmp_path):
    env = dict(os.environ, QMR_VLLM=str(tmp_path / "missing"), PYTHONPATH=str(REPO), COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "qmr_core.cli", "eval", "--engine", "vllm", "--model", "Org/model",
                          "-n", "1", "--db", str(tmp_path / "x.duckdb")], capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 1 and len(lines) == 1 and "QMR_VLLM" in lines[0], out.stderr
    both = subprocess.run([sys.executable, "-m", "qmr_core.cli", "eval", "--engine", "vllm", "--model", "Org/model",
                           "--base-url", "http://h:1/v1", "--db", str(tmp_path / "x.duckdb")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert both.returncode == 1 and "--engine openai --base-url" in both.stderr


def test_start_up_failure_names_the_root_cause_of_this_start(tmp_path):
    log = tmp_path / "s.log"
    log.write_text(
        "# qmr: old start\nValueError: an older failure\n"
        "# qmr: python -m vllm.entrypoints.openai.api_server ...\n"
        "(APIServer pid=1) WARNING 11-27 [system_utils.py:255] fd limit errors like `OSError: [Errno 24] Too many`\n"
        "(Worker pid=2) ERROR 11-27 [multiproc_executor.py:1063] WorkerProc hit an exception.\n"
        "(Worker pid=2) ERROR 11-27 [multiproc_executor.py:1063] NotImplementedError: \"cpu_gemm_wna16\" not implemented for 'Float'\n"
        "RuntimeError: Engine core initialization failed. See root cause above.\n"
        "  warnings.warn('resource_tracker: There appear to be %d '\n"
    )
    server = VLLMServer("m", "m", "float32", log)
    assert server.last_log_line() == "NotImplementedError: \"cpu_gemm_wna16\" not implemented for 'Float'"
    log.write_text("# qmr: python -m ...\napi_server.py: error: argument --max-model-len: invalid value\n")
    assert server.last_log_line() == "error: argument --max-model-len: invalid value"


def test_quantized_checkpoints_default_to_bfloat16_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr("qmr_core.engines.vllm_engine.has_gpu", lambda: False)
    (tmp_path / "config.json").write_text('{"quantization_config": {"quant_method": "compressed-tensors"}}')
    assert vllm_engine_key("auto", str(tmp_path)) == {"engine": "vllm", "dtype": "bfloat16"}
    assert vllm_engine_key("float32", str(tmp_path)) == {"engine": "hf", "dtype": "float32"}  # asked for: vLLM says no
    assert vllm_engine_key("auto", "smollm2-135m") == {"engine": "hf", "dtype": "float32"}


def test_replicas_split_the_visible_gpus_evenly(monkeypatch):
    from qmr_core.engines.vllm_engine import replica_gpus

    monkeypatch.setattr("qmr_core.engines.vllm_engine.has_gpu", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    assert replica_gpus(1) == [None]
    assert replica_gpus(2) == ["0,1,2,3", "4,5,6,7"] and replica_gpus(8)[7] == "7"
    assert replica_gpus(3) == ["0,1", "2,3", "4,5"]
    with pytest.raises(QmrError, match="needs at least 9 GPUs"):
        replica_gpus(9)
    monkeypatch.setattr("qmr_core.engines.vllm_engine.has_gpu", lambda: False)
    assert replica_gpus(2) == [None, None]  # CPU replicas share the machine
