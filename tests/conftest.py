"""Shared offline fixtures: a tiny word-level tokenizer built in memory (no downloads); hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

TINY_WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "day",
    "food",
    "was",
    "is",
    "it",
    "very",
    "really",
    "not",
    "good",
    "great",
    "bad",
    "awful",
    "happy",
    "sad",
    "love",
    "hate",
    "fine",
    "ok",
    "and",
    "but",
    "so",
    "i",
    "we",
    "you",
    "they",
    "my",
    "our",
    "this",
    "that",
    ".",
    ",",
    "!",
    "?",
]


def make_tiny_tokenizer(words=TINY_WORDS) -> PreTrainedTokenizerFast:
    """Word-level tokenizer: ids 0-2 are <pad>, <unk>, <eos>; then one id per word in ``words``."""
    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2}
    for word in words:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")


# Property tests: 50 examples each in CI; HYPOTHESIS_PROFILE=thorough runs 2,000 (docs/reliability.md).
settings.register_profile("ci", max_examples=50, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    return make_tiny_tokenizer()


@pytest.fixture(autouse=True)
def _one_torch_thread_for_tiny_models(request):
    """Tiny models run faster, and with steadier timing on a shared 2-core machine, on one thread; tests marked
    ``slow`` (real SmolLM2 / MiniLM) keep every thread."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_policy_dir(tmp_path_factory):
    """A folder with a tiny random GPT-2 (96 positions) and the tiny tokenizer, for commands that load a policy."""
    from tiny_lm import tiny_model

    tokenizer = make_tiny_tokenizer()
    folder = tmp_path_factory.mktemp("tiny_policy")
    tiny_model(vocab_size=len(tokenizer), n_positions=96).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
