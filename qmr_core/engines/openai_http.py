"""HTTP plumbing of the openai engine: retry budgets, refusals, reading answers, and its private event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from qmr_core.errors import QmrError

T = TypeVar("T")

REFUSED = "cannot connect"
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
FINISH_REASONS = {"stop": "eos", "eos": "eos", "end_turn": "eos", "length": "length", "max_tokens": "length"}


class RefusedBudget:
    """Connections refused (nobody listens): retried for `seconds` in all, then given up at once."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.since: float | None = None

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


def error_text(response: httpx.Response) -> str:
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


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def schema_format(schema: dict) -> dict:
    """The response_format that asks a server (vLLM, SGLang, OpenAI) for output matching a JSON schema."""
    return {"type": "json_schema", "json_schema": {"name": "qmr_output", "schema": schema, "strict": True}}


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


class LoopThread:
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
