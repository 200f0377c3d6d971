"""OpenAI-compatible engine: any server that speaks /v1/chat/completions (vLLM, SGLang, llama.cpp's
server, `transformers serve`, TGI).

The server applies the model's chat template, so a sample's stored prompt is the chat messages as
JSON (the exact text the model saw is known only to the server).

Requests run on a private asyncio loop in a background thread, at most ``concurrency`` at a time;
``generate`` is synchronous like every engine and returns when its whole batch is done, so callers
pass batches larger than ``concurrency`` (the CLI uses 2 x concurrency) to keep the server busy.
A request that meets a connection error, a timeout, 429 or a 5xx is retried with exponential
backoff (honouring Retry-After). Until the server has answered once, a refused connection (nobody
listens there: a wrong address, or a server still booting) is retried only for ``connect_retry_s``
in all (5 s by default, --connect-retry-s), so a wrong port fails fast; after that a refusal means a
restart and gets the full retries. When the retries are spent the batch fails with one QmrError and
the batches stored before it stay stored. Other 4xx answers (bad model name, bad parameters) are
not retried.

Decoding: greedy is temperature 0. Sampling sends temperature, top_p and a per-request seed
(seed * 1_000_003 + sample_idx, as the hf engine seeds torch). vLLM and SGLang honour per-request
seeds; servers that set one global seed (`transformers serve`) are reproducible only at
concurrency 1, and greedy outputs of any batched server can vary slightly with batch composition.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from qmr_core.engines.base import Decoding, Generation
from qmr_core.errors import QmrError
from qmr_core.model_registry import ModelRef
from qmr_core.prompts import Messages

T = TypeVar("T")

BASE_URL_ENV = ("QMR_OPENAI_BASE_URL", "OPENAI_BASE_URL")
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
FINISH_REASONS = {"stop": "eos", "eos": "eos", "end_turn": "eos", "length": "length", "max_tokens": "length"}


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str
    concurrency: int = 8
    api_key_env: str | None = None  # name of the environment variable holding the key, never the key
    max_retries: int = 6
    backoff_s: float = 1.0  # first retry waits this long, then x2 each time (capped), with jitter
    max_backoff_s: float = 30.0
    timeout_s: float = 600.0  # one request; long reasoning traces on a busy server take minutes
    connect_retry_s: float = 5.0  # refused connections (nobody listens) are retried this long, not max_retries times

    @classmethod
    def from_dict(cls, options: dict | None) -> OpenAIOptions:
        options = dict(options or {})
        base_url = options.get("base_url") or next((os.environ[v] for v in BASE_URL_ENV if os.environ.get(v)), None)
        if not base_url:
            raise QmrError(
                "the openai engine needs the server address: --base-url http://HOST:PORT/v1 "
                f"(or set {BASE_URL_ENV[0]})"
            )
        opts = cls(
            base_url=normalize_base_url(base_url),
            concurrency=int(options.get("concurrency") or cls.concurrency),
            api_key_env=options.get("api_key_env"),
            max_retries=int(options["max_retries"]) if options.get("max_retries") is not None else cls.max_retries,
            backoff_s=float(options.get("backoff_s") or cls.backoff_s),
            max_backoff_s=float(options.get("max_backoff_s") or cls.max_backoff_s),
            timeout_s=float(options.get("timeout_s") or cls.timeout_s),
            connect_retry_s=float(options["connect_retry_s"]) if options.get("connect_retry_s") is not None else cls.connect_retry_s,
        )
        if opts.concurrency < 1 or opts.max_retries < 0 or opts.timeout_s <= 0 or opts.connect_retry_s < 0:
            raise QmrError("need --concurrency >= 1, --max-retries >= 0, --request-timeout > 0 and --connect-retry-s >= 0")
        return opts

    def api_key(self) -> str | None:
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise QmrError(f"environment variable {self.api_key_env} (--api-key-env) is not set")
            return key
        return os.environ.get(DEFAULT_API_KEY_ENV) or None


def normalize_base_url(url: str) -> str:
    """'http://h:8000' and 'http://h:8000/' -> 'http://h:8000/v1'; any other path is kept as given."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise QmrError(f"--base-url '{url}' is not an http(s) URL such as http://127.0.0.1:8000/v1")
    return url + "/v1" if parts.path in ("", "/") else url


class _RefusedBudget:
    """Connections refused (nobody listens): retried for `seconds` in all, then given up at once."""

    def __init__(self, seconds: float):
        self.seconds, self.since = seconds, None

    def next_wait(self, delay: float) -> float | None:
        now = time.monotonic()
        self.since = self.since or now
        left = self.seconds - (now - self.since)
        return None if left <= 0 else min(delay, left)


class RequestRefused(QmrError):
    """The server answered with a status that retrying will not change (400, 401, 404, ...)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body))
        if isinstance(err, dict):
            err = err.get("message", err)
        body = err
    text = str(body).strip().replace("\n", " ")
    return text[:300] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def map_finish_reason(reason: Any) -> str:
    """OpenAI's 'stop' is qmr's 'eos'; 'length' stays; anything else is kept as the server named it."""
    if reason is None:
        return "unknown"
    return FINISH_REASONS.get(str(reason).lower(), str(reason).lower())


def completion_text(message: dict) -> str:
    """The answer text; a reasoning parser's separate trace (vLLM/SGLang `reasoning_content`) is put
    back in front inside <think> tags, since the trace is what qmr splits into steps."""
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if reasoning:
        return f"<think>\n{reasoning}\n</think>\n\n{content}"
    return content


def served_model_ref(spec: str) -> ModelRef:
    """The store identity of a served model; ``source`` keeps the name sent to the server.

    The model id is what ``spec`` resolves to locally when it names a checkpoint folder, a GGUF
    file, an alias or a hub id (``vllm serve PATH`` serves under PATH by default), so a served
    model shares its models row, and `qmr quantize`'s method, bits and base model, with local runs
    of the same checkpoint. Any other served name becomes ``openai:<name>``. The server address is
    deliberately not part of the identity: a run resumes against a restarted or moved server.
    """
    from qmr_core.model_registry import ALIASES, resolve_model

    spec = spec.strip()
    if not spec:
        raise QmrError("--model: give the model name the server serves")
    if "@rtn" in spec:
        raise QmrError(f"'{spec}': built-in RTN (@rtn-...) is applied on load by --engine hf; "
                       "the openai engine evaluates the model as the server serves it")
    local: ModelRef | None = None
    if "@" not in spec:
        try:
            local = resolve_model(spec)
        except QmrError:
            local = None
    if local is not None:
        return ModelRef(model_id=local.model_id, name=local.name, source=spec, kind="openai",
                        base_model_id=local.base_model_id)
    model_id = spec if spec in ALIASES else f"openai:{spec}"
    return ModelRef(model_id=model_id, name=spec, source=spec, kind="openai")


class _LoopThread:
    """A private event loop on a daemon thread, so the synchronous engine face works from any
    thread, including one that already runs an event loop (the TUI, async tests)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="qmr-openai", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


@dataclass
class OpenAIEngine:
    ref: ModelRef
    options: OpenAIOptions
    served_model: str = ""  # the name the server knows; ModelRef.source by default
    name = "openai"
    supports_json_schema = True  # response_format json_schema (vLLM, SGLang, OpenAI); a refusal is the caller's to handle
    server_models: list[str] = field(default_factory=list)
    n_retries: int = 0
    n_answers: int = 0  # HTTP answers seen: once the server has answered, a refusal is a restart, retried fully

    def __post_init__(self) -> None:
        self.served_model = self.served_model or self.ref.source
        self._headers = {"Content-Type": "application/json"}
        key = self.options.api_key()
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._loop = _LoopThread()
        self._client: httpx.AsyncClient | None = None
        try:
            self.server_models = self._loop.run(self._list_models())
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=self.options.concurrency, max_keepalive_connections=self.options.concurrency)
            timeout = httpx.Timeout(self.options.timeout_s, connect=min(10.0, self.options.timeout_s))
            self._client = httpx.AsyncClient(base_url=self.options.base_url + "/", headers=self._headers,
                                             limits=limits, timeout=timeout)
        return self._client

    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(hint, self.options.max_backoff_s)
        base = min(self.options.backoff_s * 2**attempt, self.options.max_backoff_s)
        return base * random.uniform(0.75, 1.25)

    async def _request(self, method: str, path: str, payload: dict | None = None, starting: bool = False) -> tuple[dict, float]:
        """One API call with retries; returns (JSON body, latency ms of the successful attempt)."""
        client = await self._http()
        last = ""
        refused = _RefusedBudget(self.options.connect_retry_s)
        for attempt in range(self.options.max_retries + 1):
            hint: float | None = None
            started = time.perf_counter()
            try:
                response = await client.request(method, path, json=payload)
            except httpx.ConnectError as exc:
                last = f"cannot connect: {str(exc) or 'connection refused'}"
                if not self.n_answers:  # never reached: likely a wrong address, so fail fast
                    hint = refused.next_wait(self._delay(attempt, None))
                    if hint is None:
                        break
            except httpx.TimeoutException:
                last = f"no answer within {self.options.timeout_s:.0f} s"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {str(exc) or 'connection failed'}"
            else:
                self.n_answers += 1
                latency = (time.perf_counter() - started) * 1000.0
                if response.status_code < 400:
                    try:
                        return response.json(), latency
                    except ValueError:
                        last = "the answer is not JSON"
                elif response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}: {_error_text(response)}"
                    hint = _retry_after(response)
                else:
                    raise RequestRefused(
                        f"server at {self.options.base_url} refused the request (HTTP {response.status_code}): "
                        f"{_error_text(response)}",
                        response.status_code,
                    )
            if attempt < self.options.max_retries:
                self.n_retries += 1
                await asyncio.sleep(self._delay(attempt, hint))
        if starting:
            raise QmrError(f"no OpenAI-compatible server answers at {self.options.base_url} "
                           f"({attempt + 1} attempts; last: {last})")
        raise QmrError(
            f"server at {self.options.base_url} failed after {attempt + 1} attempts ({last}); "
            "finished batches are stored: when the server is back, run the same command to resume"
        )

    async def _list_models(self) -> list[str]:
        """GET /models: proves the server is there (with the same retries) and names what it serves."""
        try:
            body, _ = await self._request("GET", "models", starting=True)
        except RequestRefused as exc:
            if exc.status in (404, 405):  # a server without the listing (it still answers chat requests)
                return []
            raise
        data = body.get("data") if isinstance(body, dict) else None
        return [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]

    # -- the engine face --------------------------------------------------------------------

    def payload(self, messages: Messages, decoding: Decoding, sample_idx: int, json_schema: dict | None = None) -> dict:
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": messages,
            "max_tokens": decoding.max_new_tokens,
            "temperature": decoding.temperature if not decoding.greedy else 0.0,
            "stream": False,
        }
        if decoding.greedy:
            body["seed"] = 0
        else:
            body["top_p"] = decoding.top_p
            body["seed"] = decoding.seed * 1_000_003 + sample_idx
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "qmr_output", "schema": json_schema, "strict": True}}
        return body

    async def _one(self, messages: Messages, decoding: Decoding, sample_idx: int, gate: asyncio.Semaphore,
                   json_schema: dict | None = None) -> Generation:
        async with gate:
            body, latency = await self._request("POST", "chat/completions",
                                                self.payload(messages, decoding, sample_idx, json_schema))
        try:
            choice = body["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError):
            raise QmrError(f"server at {self.options.base_url} answered without choices: {json.dumps(body)[:200]}") from None
        usage = body.get("usage") or {}
        return Generation(
            text=completion_text(message),
            prompt=json.dumps(messages, ensure_ascii=False),
            n_prompt_tokens=int(usage.get("prompt_tokens") or 0),
            n_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=map_finish_reason(choice.get("finish_reason")),
            latency_ms=latency,
            extra={"served_model": body.get("model"), "usage": bool(usage)},
        )

    async def _batch(self, batch: list[Messages], decoding: Decoding, sample_idx: int,
                     json_schemas: list[dict] | None = None) -> list[Generation]:
        gate = asyncio.Semaphore(self.options.concurrency)
        schemas = json_schemas or [None] * len(batch)
        tasks = [asyncio.create_task(self._one(m, decoding, sample_idx, gate, js)) for m, js in zip(batch, schemas, strict=True)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:  # one request failed for good: stop the rest of the batch now
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def generate(self, batch: list[Messages], decoding: Decoding, sample_idx: int = 0,
                 json_schemas: list[dict] | None = None) -> list[Generation]:
        """``json_schemas``: one per item, sent as ``response_format`` (constrained output)."""
        if not batch:
            return []
        return self._loop.run(self._batch(batch, decoding, sample_idx, json_schemas))

    def describe(self) -> dict:
        return {
            "engine": "openai",
            "base_url": self.options.base_url,
            "served_model": self.served_model,
            "server_models": self.server_models[:20],
            "concurrency": self.options.concurrency,
            "max_retries": self.options.max_retries,
            "timeout_s": self.options.timeout_s,
            "httpx": httpx.__version__,
        }

    def close(self) -> None:
        if self._client is not None:
            try:
                self._loop.run(self._client.aclose())
            except Exception:
                pass
            self._client = None
        self._loop.close()
