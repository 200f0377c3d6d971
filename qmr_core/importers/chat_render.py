"""The exact prompt a local model saw for chat messages, rendered with its own tokenizer's chat template.

Inspect and lighteval log the messages, not the templated text; qmr stores (and compares) the templated text,
so a local model's messages are rendered here the way transformers renders them (add_generation_prompt=True).
Models qmr cannot load (API models, missing folders) keep a plain `[role]` transcript instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from qmr_core.models.registry import ModelRef
from qmr_core.benchmarks.prompts import Messages, plain_text_prompt


@lru_cache(maxsize=4)
def _tokenizer(folder: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _local_folder(ref: ModelRef) -> str | None:
    if ref.kind == "checkpoint" and Path(ref.source).is_dir():
        return ref.source
    if ref.kind == "gguf":
        from qmr_core.quant.float_copy import materialize_gguf

        return str(materialize_gguf(Path(ref.source)))
    return None


def render_messages(ref: ModelRef, messages: Messages, source_folder: str | None = None,
                    fallback: Callable[[Messages], str] = plain_text_prompt) -> str:
    """Templated prompt text; `source_folder` is the folder the tool loaded (it may differ from qmr's id).

    `fallback` renders the messages when there is no chat template to apply: the tool's own plain-text layout
    where it has one (lighteval joins the turns with blank lines), else qmr's base-model prompt.
    """
    folder = source_folder if source_folder and Path(source_folder).is_dir() else _local_folder(ref)
    if folder is not None:
        try:
            tok = _tokenizer(folder)
        except (OSError, ValueError):
            tok = None
        if tok is not None and getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return fallback(messages)
