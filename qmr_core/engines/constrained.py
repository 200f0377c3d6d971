"""Constrained decoding for the local transformers engine: a JSON schema enforced token by token.

Built on llguidance (the grammar engine behind vLLM's, SGLang's and llama.cpp's structured
output): a 3 MB wheel with no dependencies beyond itself, CPU-only, which compiles a JSON schema
(with ``minimum``/``maximum`` and ``maxLength`` bounds) into a token mask per decoding step. One
matcher per sequence of the batch; a sequence whose grammar is complete may only end. The mask is
applied here with plain tensor ops (llguidance's own helper compiles a kernel with torch.compile,
which a CPU-only install may lack a compiler for).
"""

from __future__ import annotations

import json
from functools import lru_cache

import torch
from transformers import LogitsProcessor

_BITS = torch.arange(32, dtype=torch.int32)


def available() -> bool:
    try:
        import llguidance  # noqa: F401
        import llguidance.hf  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer, n_vocab: int, eos_ids: tuple[int, ...]):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=list(eos_ids))


def _allowed(mask_bytes: bytes, vocab: int) -> torch.Tensor:
    words = torch.frombuffer(bytearray(mask_bytes), dtype=torch.int32)
    bits = (words.unsqueeze(1) >> _BITS) & 1
    out = bits.flatten().bool()
    if out.numel() < vocab:
        out = torch.cat([out, torch.zeros(vocab - out.numel(), dtype=torch.bool)])
    return out[:vocab]


class JsonSchemaProcessor(LogitsProcessor):
    """Masks every token that would take sequence i out of ``schemas[i]``."""

    def __init__(self, tokenizer, schemas: list[dict], eos_ids: list[int]):
        from qmr_core.errors import QmrError

        if not available():
            raise QmrError("constrained decoding needs llguidance (pip install llguidance)")
        self.tokenizer = tokenizer
        self.grammars = [self._grammar(s) for s in schemas]
        self.eos_ids = list(eos_ids)
        self.matchers: list | None = None
        self.failed: list[str | None] = [None] * len(schemas)

    @staticmethod
    def _grammar(schema: dict) -> str:
        from llguidance import LLMatcher

        # compact separators, no free whitespace: a weak model cannot spend its budget on blanks
        return LLMatcher.grammar_from_json_schema(json.dumps({**schema, "x-guidance": {"whitespace_flexible": False}}))

    def _start(self, vocab: int) -> None:
        from llguidance import LLMatcher

        tok = _ll_tokenizer(self.tokenizer, vocab, tuple(self.eos_ids))
        self.matchers = [LLMatcher(tok, g, log_level=0) for g in self.grammars]
        for i, m in enumerate(self.matchers):
            if m.is_error():
                from qmr_core.errors import QmrError

                raise QmrError(f"the JSON schema does not compile: {m.get_error()}")
            self.failed[i] = None

    def _only_eos(self, row: torch.Tensor) -> None:
        keep = row[self.eos_ids].clone()
        row.fill_(float("-inf"))
        row[self.eos_ids] = keep

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        vocab = scores.shape[1]
        if self.matchers is None:
            self._start(vocab)
        else:
            for i, tok in enumerate(input_ids[:, -1].tolist()):
                m = self.matchers[i]
                if not m.is_stopped() and not m.is_error() and not m.consume_token(tok):
                    self.failed[i] = m.get_error()
        for i, m in enumerate(self.matchers):  # type: ignore[arg-type]
            if m.is_stopped() or m.is_error():
                self._only_eos(scores[i])
                continue
            allowed = _allowed(m.compute_bitmask(), vocab).to(scores.device)
            scores[i] = scores[i].masked_fill(~allowed, float("-inf"))
        return scores
