"""The OpenAI-compatible engine against a real server (`transformers serve`) started here on 127.0.0.1.

The server serves the tiny random Llama fixture, so outputs are noise; what is tested is the
transport: store writes, token counts, sampling, refusals, and a server killed mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from conftest import count_samples
from qmr_core.engines import build_engine, engine_key, model_ref_for
from qmr_core.engines.base import Decoding
from qmr_core.engines.openai_http import completion_text, map_finish_reason
from qmr_core.engines.openai_options import OpenAIOptions, normalize_base_url, served_model_ref
from qmr_core.diagnose.judge_protocol import parse_verdict
from qmr_core.errors import QmrError


def _serve_available() -> bool:
    try:
        from transformers.utils.import_utils import is_serve_available

        return bool(is_serve_available())
    except Exception:
        return False


needs_serve = pytest.mark.skipif(
    not _serve_available(), reason="transformers serve needs the serving extra (pip install 'qmr[serve]')"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"


class Server:
    """`transformers serve MODEL` on 127.0.0.1:port, in its own process group."""

    def __init__(self, model: Path, port: int, log: Path):
        self.model, self.port, self.log = model, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: bool = True) -> Server:
        hub = self.log.parent / "hf-hub"  # /v1/models scans the HF cache and answers 500 when it does not exist
        hub.mkdir(exist_ok=True)
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", HF_HUB_CACHE=str(hub))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVE, "serve", str(self.model), "--host", "127.0.0.1",
                 "--port", str(self.port), "--device", "cpu", "--dtype", "float32"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        if wait:
            try:
                self.wait_healthy()
            except BaseException:
                self.kill()
                raise
        return self

    def wait_healthy(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"server did not start in {timeout} s:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    srv = Server(tiny_model, free_port(), tmp_path_factory.mktemp("serve") / "server.log").start()
    yield srv
    srv.kill()


def qmr(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", QMR_OPENAI_BASE_URL="")
    return subprocess.run([sys.executable, "-m", "qmr_core.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


# -- without a server ---------------------------------------------------------------------------


def test_base_url_forms():
    assert normalize_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert normalize_base_url("https://proxy.example/openai/v1") == "https://proxy.example/openai/v1"
    with pytest.raises(QmrError, match="not an http"):
        normalize_base_url("127.0.0.1:8000")


def test_finish_reasons_and_reasoning_trace():
    assert map_finish_reason("stop") == "eos" and map_finish_reason("length") == "length"
    assert map_finish_reason(None) == "unknown" and map_finish_reason("content_filter") == "content_filter"
    assert completion_text({"content": "x = \\boxed{2}"}) == "x = \\boxed{2}"
    both = completion_text({"content": "\\boxed{2}", "reasoning_content": "Step 1: 1+1=2"})
    assert both.startswith("<think>\nStep 1: 1+1=2\n</think>") and both.endswith("\\boxed{2}")


def test_served_model_identity(tiny_model):
    # a local checkpoint served by path shares the id a local (hf engine) run of it gets
    local = model_ref_for("hf", str(tiny_model))
    served = served_model_ref(str(tiny_model))
    assert served.model_id == local.model_id and served.source == str(tiny_model) and served.kind == "openai"
    assert served_model_ref("Qwen/Qwen2.5-7B-Instruct").model_id == "Qwen/Qwen2.5-7B-Instruct"
    assert served_model_ref("my-model").model_id == "openai:my-model"
    with pytest.raises(QmrError, match="engine hf"):
        served_model_ref("smollm2-135m@rtn-w4g64")
    # the server address is not part of a run's identity
    assert engine_key("openai", options={"base_url": "http://a:1"}) == engine_key("openai", options={"base_url": "http://b:2"})


def test_missing_base_url_and_closed_port_are_one_clear_error(monkeypatch):
    for var in ("QMR_OPENAI_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(QmrError, match="--base-url"):
        OpenAIOptions.from_dict({})
    port = free_port()  # nothing listens here
    ref = served_model_ref("m")
    started = time.monotonic()
    with pytest.raises(QmrError, match=r"no OpenAI-compatible server answers at http://127.0.0.1:\d+/v1 \(3 attempts"):
        build_engine("openai", ref, options={"base_url": f"http://127.0.0.1:{port}", "max_retries": 2, "backoff_s": 0.05})
    assert time.monotonic() - started < 10


def test_eval_help_lists_openai_options():
    out = qmr("eval", "--help", timeout=120)
    assert out.returncode == 0
    for opt in ("--base-url", "--concurrency", "--api-key-env", "--max-retries", "Example:"):
        assert opt in out.stdout, opt


# -- against a real server ----------------------------------------------------------------------


@needs_serve
def test_engine_generates_with_usage_and_sampling(server, tiny_model):
    ref = model_ref_for("openai", str(tiny_model))
    eng = build_engine("openai", ref, options={"base_url": server.url, "concurrency": 2})
    try:
        batch = [[{"role": "user", "content": f"What is {i} + {i}?"}] for i in range(3)]
        gens = eng.generate(batch, Decoding(max_new_tokens=8))
        assert len(gens) == 3
        for g, msgs in zip(gens, batch):
            assert json.loads(g.prompt) == msgs  # the messages, since the server renders the template
            assert g.n_prompt_tokens > 0 and 0 < g.n_tokens <= 8
            assert g.finish_reason in ("eos", "length") and g.latency_ms > 0
        again = eng.generate(batch[:1], Decoding(max_new_tokens=8))
        assert again[0].text == gens[0].text  # greedy is greedy
        sampled = eng.generate(batch[:1], Decoding(max_new_tokens=8, temperature=1.0, top_p=0.9, n_samples=2, seed=1), sample_idx=1)
        assert sampled[0].n_tokens > 0
        assert eng.payload(batch[0], Decoding(temperature=0.7, top_p=0.9, seed=1), 3)["seed"] == 1_000_003 + 3
        assert eng.describe()["engine"] == "openai" and "api_key" not in json.dumps(eng.describe())
        bad = build_engine("openai", served_model_ref("not-the-served-model"), options={"base_url": server.url})
        with pytest.raises(QmrError, match=r"refused the request \(HTTP 4\d\d\)"):
            bad.generate(batch[:1], Decoding(max_new_tokens=4))  # a 4xx is not retried
        assert bad.n_retries == 0
        bad.close()
    finally:
        eng.close()


@needs_serve
def test_cli_eval_lands_in_store_with_sampling(server, tiny_model, tmp_path):
    db = tmp_path / "o.duckdb"
    out = qmr("eval", "--engine", "openai", "--base-url", server.url, "--model", tiny_model, "-b", "sample", "-n", 3,
              "-t", 8, "--temperature", 0.8, "--top-p", 0.95, "--samples", 2, "--sampling-seed", 5, "--db", db)
    assert out.returncode == 0, out.stderr + out.stdout
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT problem_id, sample_idx, n_tokens, prompt FROM samples ORDER BY 1, 2").fetchall()
    assert len(rows) == 6 and {r[1] for r in rows} == {0, 1}
    assert all(r[2] > 0 and r[3].startswith("[{") for r in rows)
    run = con.execute("SELECT r.engine, r.engine_json, m.model_id, r.status FROM runs r JOIN models m USING (model_id)").fetchone()
    assert run[0] == "openai" and json.loads(run[1])["base_url"] == server.url and run[3] == "done"
    from qmr_core.benchmarks.steps import split_steps

    outputs = con.execute("SELECT output FROM samples").fetchall()
    n_steps = con.execute("SELECT count(*) FROM steps").fetchone()[0]
    assert n_steps == sum(len(split_steps(o).steps) for (o,) in outputs)  # every sample's steps, none twice
    con.close()


@needs_serve
def test_server_killed_mid_run_stops_cleanly_and_resumes(tiny_model, tmp_path, request):
    """Kill the server while a run is in flight: one error line, finished batches kept, run marked
    failed; restart it (the resume starts while the server is still booting, so the engine's
    retries carry it over) and the same command completes the run without duplicates."""
    db = tmp_path / "kill.duckdb"
    srv = Server(tiny_model, free_port(), tmp_path / "server.log")
    request.addfinalizer(srv.kill)  # whatever happens below, no server outlives the test
    srv.start()
    args = ["eval", "--engine", "openai", "--base-url", f"http://127.0.0.1:{srv.port}", "--model", tiny_model,
            "-b", "sample", "-n", 16, "-t", 160, "--concurrency", 1, "-k", 1, "--db", db]  # ~1 s a request
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "qmr_core.cli", *map(str, args), "--max-retries", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        stored = 0
        while stored < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                con = duckdb.connect(str(db), read_only=True)
                stored = con.execute("SELECT count(*) FROM samples").fetchone()[0]
                con.close()
            except duckdb.Error:
                pass  # the writer holds the file for a moment; look again
        assert proc.poll() is None, "the run finished before the server could be killed: " + proc.stderr.read()
        srv.kill()
        _stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.kill()
    assert proc.returncode == 1
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: server at http://127.0.0.1:") and "failed after 3 attempts" in lines[0], stderr
    assert "run the same command to resume" in lines[0] and "Traceback" not in stderr
    con = duckdb.connect(str(db), read_only=True)
    kept = con.execute("SELECT count(*) FROM samples").fetchone()[0]
    (run_id, status), = con.execute("SELECT run_id, status FROM runs").fetchall()
    con.close()
    assert 2 <= kept < 16 and status == "failed"

    srv.start(wait=False)  # same port; qmr's retries wait for it to come up
    resumed = qmr(*args, "--max-retries", 9, "--connect-retry-s", 300)  # refusals while it boots: wait for it
    srv.kill()
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert f"({kept} already stored)" in resumed.stdout
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT run_id, status FROM runs").fetchall() == [(run_id, "done")]
    n, distinct = con.execute("SELECT count(*), count(DISTINCT (problem_id, sample_idx)) FROM samples").fetchone()
    con.close()
    assert n == distinct == 16


@needs_serve
def test_llm_judge_runs_on_the_openai_engine(server, tiny_model, monkeypatch):
    from qmr_core.diagnose.judge import JudgeCase, LLMJudge, parse_judge_spec

    monkeypatch.setenv("QMR_OPENAI_BASE_URL", server.url)  # a judge spec carries no URL: it comes from here
    judge = LLMJudge(parse_judge_spec(f"openai:{tiny_model}"), max_new_tokens=8)
    try:
        assert judge.constrained and judge.max_new_tokens == 8
        out = judge.judge([JudgeCase(problem="What is 1+1?", steps=["Step 1: 1 + 1 = 3."], gold="2")])
        raw, verdict, latency = out[0]
        # `transformers serve` ignores response_format (it warns), so the noise model's reply is read as sent
        assert isinstance(raw, str) and latency > 0 and verdict == parse_verdict(raw, 1)
        assert judge.protocol()["constrained"] is True and not judge.notes
    finally:
        judge.engine.close()


def test_payload_carries_the_verdict_schema():
    from qmr_core.diagnose.judge_protocol import verdict_schema
    from qmr_core.engines.openai_api import OpenAIEngine
    from qmr_core.engines.openai_http import schema_format

    engine = OpenAIEngine.__new__(OpenAIEngine)  # payload() needs only the served name and the renderer
    engine.served_model, engine.prompt_renderer = "m", None
    body = engine.payload([{"role": "user", "content": "x"}], Decoding(max_new_tokens=4096), 0, schema_format(verdict_schema(3)))
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["first_error_step"]["maximum"] == 2
    assert "response_format" not in engine.payload([{"role": "user", "content": "x"}], Decoding(), 0)


def test_a_server_refusing_the_schema_gets_free_text_votes(tiny_model, monkeypatch):
    """A server that answers 400 to response_format: the judge asks again without it, records that
    its votes are unconstrained, and reads the verdict from the end of the free text."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from qmr_core.diagnose.judge import JudgeCase, LLMJudge, parse_judge_spec

    seen: list[bool] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send(200, {"data": [{"id": "judge-model"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append("response_format" in body)
            if "response_format" in body:
                return self._send(400, {"error": {"message": "response_format is not supported"}})
            text = "Paragraph 0 claims 1 + 1 = 3, which is false.\n\\boxed{0}"
            self._send(200, {"model": "judge-model", "usage": {"prompt_tokens": 5, "completion_tokens": 9},
                             "choices": [{"message": {"content": text}, "finish_reason": "stop"}]})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("QMR_OPENAI_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    judge = LLMJudge(parse_judge_spec("openai:judge-model"))
    try:
        assert judge.constrained and judge.max_new_tokens == 4096
        (_raw, verdict, _ms), = judge.judge([JudgeCase(problem="1+1?", steps=["1 + 1 = 3."], gold="2")])
        assert seen == [True, False]
        assert (verdict.parsed, verdict.first_error_step, verdict.form) == (True, 0, "boxed")
        assert not judge.constrained and judge.protocol()["constrained"] is False
        assert "refused a JSON schema" in judge.notes[0]
    finally:
        judge.engine.close()
        httpd.shutdown()


@needs_serve
def test_sigkill_mid_stream_then_resume_loses_only_what_was_in_flight(server, tiny_model, tmp_path):
    """Samples are stored as their requests complete, not per batch: with one batch of all 12 (-k 16) a
    batch-wise writer would hold 0 or 12; qmr is SIGKILLed with some stored and the rerun completes it."""
    db, n = tmp_path / "s.duckdb", 12
    args = ["eval", "--engine", "openai", "--base-url", server.url, "--model", tiny_model, "-b", "sample", "-n", n,
            "-t", 160, "--concurrency", 1, "-k", 16, "--db", db]  # ~1 s a request: several flushes
    proc = subprocess.Popen([sys.executable, "-m", "qmr_core.cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ, QMR_OPENAI_BASE_URL=""))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and count_samples(db) < 3:
        time.sleep(0.05)
    assert proc.poll() is None, f"eval finished before it could be killed: {proc.stderr.read().decode()[-500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after_kill = count_samples(db)
    assert 3 <= after_kill < n
    resumed = qmr(*args)
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert f"{n - after_kill} samples to generate" in resumed.stdout.replace("\n", " ")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT problem_id) FROM samples").fetchone() == (n, n)
    orphans = con.execute("SELECT count(*) FROM steps t LEFT JOIN samples s USING (run_id, problem_id, sample_idx) "
                          "WHERE s.run_id IS NULL").fetchone()[0]
    assert orphans == 0 and con.execute("SELECT status FROM runs").fetchone()[0] == "done"
    con.close()


@needs_serve
def test_two_endpoints_one_dies_mid_run_and_the_other_finishes_it(tiny_model, tmp_path, request):
    a = Server(tiny_model, free_port(), tmp_path / "a.log")
    b = Server(tiny_model, free_port(), tmp_path / "b.log")
    request.addfinalizer(a.kill)
    request.addfinalizer(b.kill)
    a.start()
    b.start()
    db, n = tmp_path / "two.duckdb", 16
    args = ["eval", "--engine", "openai", "--base-url", a.url, "--base-url", b.url, "--model", tiny_model,
            "-b", "sample", "-n", n, "-t", 160, "--concurrency", 1, "--db", db]  # ~1 s a request
    proc = subprocess.Popen([sys.executable, "-m", "qmr_core.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, QMR_OPENAI_BASE_URL="", COLUMNS="200"))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and count_samples(db) < 3:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before a server could be killed: " + proc.stderr.read()
        b.kill()
        _out, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT problem_id) FROM samples").fetchone() == (n, n)
    described = json.loads(con.execute("SELECT engine_json FROM runs").fetchone()[0])
    con.close()
    assert described["base_urls"] == [a.url, b.url]


def test_endpoint_pool_prefers_live_and_idle_servers():
    from qmr_core.engines.endpoints import EndpointPool

    pool = EndpointPool(("http://a/v1", "http://b/v1"), backoff_s=60)
    a, b = pool.endpoints
    a.in_flight = 1
    assert pool.pick() is b
    pool.failed(b)
    assert pool.pick() is a and pool.other_live(b) and not pool.other_live(a)
    pool.failed(a)  # both set aside: the one that comes back first
    assert pool.pick() is b and b.streak == 1
    pool.succeeded(b)
    assert b.up(time.monotonic()) and pool.counts()["http://b/v1"] == {"answered": 1, "failed": 1}
