"""The openai engine's settings (server addresses, retries, key) and a served model's store identity."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from qmr_core.errors import QmrError
from qmr_core.models.registry import ModelRef

BASE_URL_ENV = ("QMR_OPENAI_BASE_URL", "OPENAI_BASE_URL")
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class OpenAIOptions:
    base_url: str  # the first endpoint
    concurrency: int = 8
    api_key_env: str | None = None  # name of the environment variable holding the key, never the key
    max_retries: int = 6
    backoff_s: float = 1.0  # first retry waits this long, then x2 each time (capped), with jitter
    max_backoff_s: float = 30.0
    timeout_s: float = 600.0  # one request; long reasoning traces on a busy server take minutes
    base_urls: tuple[str, ...] = ()  # every endpoint (base_url first); empty means just base_url
    connect_retry_s: float = 5.0  # refused connections (nobody listens) are retried this long, not max_retries times

    @property
    def urls(self) -> tuple[str, ...]:
        return self.base_urls or (self.base_url,)

    @classmethod
    def from_dict(cls, options: dict | None) -> OpenAIOptions:
        options = dict(options or {})
        given = options.get("base_url") or next((os.environ[v] for v in BASE_URL_ENV if os.environ.get(v)), None)
        if not given:
            raise QmrError(
                "the openai engine needs the server address: --base-url http://HOST:PORT/v1 "
                f"(or set {BASE_URL_ENV[0]})"
            )
        # one URL, a list (repeated --base-url) or a comma-separated list ($QMR_OPENAI_BASE_URL)
        parts = [given] if isinstance(given, str) else list(given)
        urls = tuple(dict.fromkeys(normalize_base_url(u) for p in parts for u in str(p).split(",") if u.strip()))
        if not urls:
            raise QmrError("--base-url: give at least one server URL")
        opts = cls(
            base_url=urls[0],
            base_urls=urls,
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


def served_model_ref(spec: str) -> ModelRef:
    """The store identity of a served model; ``source`` keeps the name sent to the server.

    The model id is what ``spec`` resolves to locally when it names a checkpoint folder, a GGUF
    file, an alias or a hub id (``vllm serve PATH`` serves under PATH by default), so a served
    model shares its models row, and `qmr quantize`'s method, bits and base model, with local runs
    of the same checkpoint. Any other served name becomes ``openai:<name>``. The server address is
    deliberately not part of the identity: a run resumes against a restarted or moved server.
    """
    from qmr_core.models.registry import ALIASES, resolve_model

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
