"""OpenAI-compatible engine: any server that speaks /v1/chat/completions (vLLM, SGLang, llama.cpp's
server, `transformers serve`, TGI).

The server applies the model's chat template, so a sample's stored prompt is the chat messages as
JSON (the exact text the model saw is known only to the server).

Requests run on a private asyncio loop in a background thread, at most ``concurrency`` at a time per
endpoint. ``stream`` hands back each completion as it arrives (the eval loop stores them as they
come, so no request waits for a slower one); ``generate`` is the synchronous batch face every engine
has. Several base URLs spread the requests over several servers (endpoints.py). A request that meets
a connection error, a timeout, 429 or a 5xx is retried, on another live endpoint at once when there
is one, else with exponential backoff (honouring Retry-After). Until a server has answered once, a
refused connection (nobody listens there: a wrong address, or a server still booting) is retried only
for ``connect_retry_s`` in all (5 s by default, --connect-retry-s), so a wrong port fails fast. When
the retries are spent the call fails with one QmrError and what was stored before it stays stored. Other 4xx answers (bad model
name, bad parameters) are not retried.

With a ``prompt_renderer`` the engine sends the rendered prompt text to /completions instead of the
messages to /chat/completions: the managed vLLM engine renders exactly as the hf engine does, so both
store the same prompt and the model sees the same tokens.

Decoding: greedy is temperature 0. Sampling sends temperature, top_p and a per-request seed
(seed * 1_000_003 + sample_idx, as the hf engine seeds torch). vLLM and SGLang honour per-request
seeds; servers that set one global seed (`transformers serve`) are reproducible only at
concurrency 1, and greedy outputs of any batched server can vary slightly with batch composition.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from qmr_core.benchmarks.prompts import Messages
from qmr_core.engines.base import Decoding, Generation
from qmr_core.engines.completions import Completions
from qmr_core.engines.endpoints import Endpoint, EndpointPool
from qmr_core.engines.openai_http import (
    REFUSED, RETRY_STATUS, LoopThread, RefusedBudget, RequestRefused, completion_text, error_text, map_finish_reason,
    retry_after, schema_format,
)
from qmr_core.engines.openai_options import OpenAIOptions
from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef


Request = tuple[Messages, int]  # (chat messages, sample index)


@dataclass
class OpenAIEngine:
    ref: ModelRef
    options: OpenAIOptions
    served_model: str = ""  # the name the server knows; ModelRef.source by default
    prompt_renderer: Callable[[Messages], str] | None = None  # set: send rendered text to /completions
    add_special_tokens: bool = False  # /completions only: let the server add BOS etc. to the text
    name = "openai"
    server_models: list[str] = field(default_factory=list)
    n_retries: int = 0
    n_answers: int = 0  # HTTP answers seen: once a server has answered, a refusal is a restart, retried fully
    supports_json_schema = True  # response_format json_schema (vLLM, SGLang, OpenAI); a refusal is the caller's to handle

    def __post_init__(self) -> None:
        self.served_model = self.served_model or self.ref.source
        self._headers = {"Content-Type": "application/json"}
        key = self.options.api_key()
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self.pool = EndpointPool(self.options.urls, self.options.backoff_s, self.options.max_backoff_s)
        self._loop = LoopThread()
        try:
            listed = [self._loop.run(self._list_models(e)) for e in self.pool.endpoints]
            self.server_models = list(dict.fromkeys(m for models in listed for m in models))
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def where(self) -> str:
        urls = self.options.urls
        return f"server at {urls[0]}" if len(urls) == 1 else f"servers at {', '.join(urls)}"

    def _http(self, endpoint: Endpoint) -> httpx.AsyncClient:
        if endpoint.client is None:
            n = self.options.concurrency * len(self.pool.endpoints)  # room for the others' share when one dies
            limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
            timeout = httpx.Timeout(self.options.timeout_s, connect=min(10.0, self.options.timeout_s))
            endpoint.client = httpx.AsyncClient(base_url=endpoint.url + "/", headers=self._headers,
                                                limits=limits, timeout=timeout)
        return endpoint.client

    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(hint, self.options.max_backoff_s)
        base = min(self.options.backoff_s * 2**attempt, self.options.max_backoff_s)
        return base * random.uniform(0.75, 1.25)

    async def _attempt(self, endpoint: Endpoint, method: str, path: str, payload: dict | None) -> tuple[Any, str, float | None]:
        """One try: (body, "", None) on success, else (None, why it failed, Retry-After hint)."""
        started = time.perf_counter()
        endpoint.in_flight += 1
        try:
            response = await self._http(endpoint).request(method, path, json=payload)
        except httpx.ConnectError as exc:
            return None, f"{REFUSED}: {str(exc) or 'connection refused'}", None
        except httpx.TimeoutException:
            return None, f"no answer within {self.options.timeout_s:.0f} s", None
        except httpx.TransportError as exc:
            return None, f"{type(exc).__name__}: {str(exc) or 'connection failed'}", None
        finally:
            endpoint.in_flight -= 1
        self.n_answers += 1
        latency = (time.perf_counter() - started) * 1000.0
        if response.status_code < 400:
            try:
                return (response.json(), latency), "", None
            except ValueError:
                return None, "the answer is not JSON", None
        if response.status_code in RETRY_STATUS:
            return None, f"HTTP {response.status_code}: {error_text(response)}", retry_after(response)
        raise RequestRefused(
            f"server at {endpoint.url} refused the request (HTTP {response.status_code}): {error_text(response)}",
            response.status_code,
        )

    async def _request(self, method: str, path: str, payload: dict | None = None, starting: bool = False,
                       endpoint: Endpoint | None = None) -> tuple[dict, float]:
        """One API call with retries, on ``endpoint`` or the pool's pick; (JSON body, latency ms)."""
        last, failed_on = "", None
        refused = RefusedBudget(self.options.connect_retry_s)
        attempt = 0
        for attempt in range(self.options.max_retries + 1):
            target = endpoint or self.pool.pick(avoid=failed_on)
            ok, last, hint = await self._attempt(target, method, path, payload)
            if ok is not None:
                self.pool.succeeded(target)
                return ok
            self.pool.failed(target)
            failed_on = target
            if attempt < self.options.max_retries:
                if endpoint is None and self.pool.other_live(target):
                    self.n_retries += 1
                    continue  # another server is up: try it now
                delay = self._delay(attempt, hint)
                if last.startswith(REFUSED) and not self.n_answers:  # never reached: likely a wrong address, fail fast
                    wait = refused.next_wait(delay)
                    if wait is None:
                        break
                    delay = wait
                self.n_retries += 1
                await asyncio.sleep(delay)
        where = endpoint.url if endpoint else ", ".join(self.options.urls)
        if starting:
            raise QmrError(f"no OpenAI-compatible server answers at {where} "
                           f"({attempt + 1} attempts; last: {last})")
        raise QmrError(
            f"{self.where} failed after {attempt + 1} attempts ({last}); "
            "finished samples are stored: when the server is back, run the same command to resume"
        )

    async def _list_models(self, endpoint: Endpoint) -> list[str]:
        """GET /models: proves the server is there (with the same retries) and names what it serves."""
        try:
            body, _ = await self._request("GET", "models", starting=True, endpoint=endpoint)
        except RequestRefused as exc:
            if exc.status in (404, 405):  # a server without the listing (it still answers chat requests)
                return []
            raise
        data = body.get("data") if isinstance(body, dict) else None
        return [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]

    # -- the engine face --------------------------------------------------------------------

    def payload(self, messages: Messages, decoding: Decoding, sample_idx: int,
                response_format: dict | None = None) -> dict:
        body: dict[str, Any] = {
            "model": self.served_model,
            "max_tokens": decoding.max_new_tokens,
            "temperature": decoding.temperature if not decoding.greedy else 0.0,
            "stream": False,
        }
        if self.prompt_renderer is not None:
            body.update(prompt=self.prompt_renderer(messages), add_special_tokens=self.add_special_tokens)
        else:
            body["messages"] = messages
        if decoding.greedy:
            body["seed"] = 0
        else:
            body["top_p"] = decoding.top_p
            body["seed"] = decoding.seed * 1_000_003 + sample_idx
        if response_format is not None:  # e.g. {"type": "json_schema", "json_schema": {...}} (vLLM, SGLang, OpenAI)
            body["response_format"] = response_format
        return body

    async def _one(self, messages: Messages, decoding: Decoding, sample_idx: int,
                   response_format: dict | None = None) -> Generation:
        payload = self.payload(messages, decoding, sample_idx, response_format)
        path = "chat/completions" if "messages" in payload else "completions"
        body, latency = await self._request("POST", path, payload)
        try:
            choice = body["choices"][0]
            text = completion_text(choice.get("message") or {}) if "messages" in payload else str(choice.get("text") or "")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise QmrError(f"{self.where} answered without choices: {json.dumps(body)[:200]}") from None
        usage = body.get("usage") or {}
        return Generation(
            text=text,
            prompt=payload.get("prompt") or json.dumps(messages, ensure_ascii=False),
            n_prompt_tokens=int(usage.get("prompt_tokens") or 0),
            n_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=map_finish_reason(choice.get("finish_reason")),
            latency_ms=latency,
            extra={"served_model": body.get("model"), "usage": bool(usage)},
        )

    async def _run(self, requests: Sequence[Request], decoding: Decoding, out: Completions,
                   formats: Sequence[dict | None]) -> None:
        """``concurrency`` workers per endpoint take the next request as soon as they are free."""
        todo = iter(enumerate(requests))

        async def worker() -> None:
            for i, (messages, sample_idx) in todo:
                out.put(("ok", (i, await self._one(messages, decoding, sample_idx, formats[i]))))

        workers = [asyncio.create_task(worker())
                   for _ in range(min(len(requests), self.options.concurrency * len(self.pool.endpoints)))]
        try:
            await asyncio.gather(*workers)
        except BaseException as exc:
            for w in workers:  # one request failed for good: stop the others now
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            out.put(("error", exc if isinstance(exc, Exception) else QmrError("generation was cancelled")))

    def stream(self, requests: Sequence[Request], decoding: Decoding,
               response_format: dict | Sequence[dict | None] | None = None) -> Completions:
        """Start every request; read the completions from the handle as they arrive, then close it.

        ``response_format``: one for every request, or a list with one per request.
        """
        formats: list[dict | None] = (list(response_format) if isinstance(response_format, (list, tuple))
                                      else [response_format] * len(requests))  # type: ignore[list-item]
        if len(formats) != len(requests):
            raise ValueError("one response_format per request")
        out = Completions(len(requests))
        if requests:
            out._future = asyncio.run_coroutine_threadsafe(self._run(requests, decoding, out, formats), self._loop.loop)
        return out

    def generate(self, batch: list[Messages], decoding: Decoding, sample_idx: int = 0,
                 response_format: dict | None = None, json_schemas: list[dict] | None = None) -> list[Generation]:
        """``json_schemas``: one per item, each sent as a strict ``json_schema`` response_format (constrained output)."""
        results: list[Generation | None] = [None] * len(batch)
        formats: dict | list[dict | None] | None = response_format
        if json_schemas is not None:
            formats = [schema_format(js) for js in json_schemas]
        handle = self.stream([(m, sample_idx) for m in batch], decoding, formats)
        try:
            while handle.received < handle.total:
                got = handle.next()
                if got is not None:
                    results[got[0]] = got[1]
        finally:
            handle.close()
        return [r for r in results if r is not None]

    def describe(self) -> dict:
        return {
            "engine": "openai",
            "base_url": self.options.base_url,
            **({"base_urls": list(self.options.urls)} if len(self.options.urls) > 1 else {}),
            "api": "completions" if self.prompt_renderer else "chat",
            "served_model": self.served_model,
            "server_models": self.server_models[:20],
            "concurrency": self.options.concurrency,
            "max_retries": self.options.max_retries,
            "timeout_s": self.options.timeout_s,
            "httpx": httpx.__version__,
        }

    def endpoint_counts(self) -> dict[str, dict[str, int]]:
        """Requests answered and attempts failed per endpoint, so far."""
        return self.pool.counts()

    def close(self) -> None:
        for endpoint in getattr(self, "pool", EndpointPool(())).endpoints:
            if endpoint.client is not None:
                try:
                    self._loop.run(endpoint.client.aclose())
                except Exception:
                    pass
                endpoint.client = None
        self._loop.close()
