"""Tiny offline reward-model pieces for the reward_models tests: a BERT-style word-level tokenizer, a 2-layer
BERT sequence classifier saved as a backbone folder, and a separable synthetic preference rule."""

from __future__ import annotations

import random

import torch

POSITIVE = ["good", "great", "love", "happy", "nice"]
NEGATIVE = ["bad", "awful", "hate", "sad", "poor"]
NEUTRAL = ["the", "a", "movie", "film", "day", "food", "was", "is", "it", "very", "and", "so", "we", "they"]
PROMPTS = [
    f"{subject} {verb}"
    for subject in ("the movie", "the food", "my day", "the film", "our trip", "the show")
    for verb in ("was", "is", "felt", "seemed")
]


def tiny_bert_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for p in PROMPTS for w in p.split()} | set(POSITIVE + NEGATIVE + NEUTRAL))
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, **{w: i + 4 for i, w in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )


def tiny_bert(num_labels: int = 1, seed: int = 0, vocab_size: int = 64):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(config)


def save_backbone(folder, num_labels: int = 1, seed: int = 0) -> str:
    """A tiny BERT classifier + tokenizer folder, loadable like a hub checkpoint."""
    tokenizer = tiny_bert_tokenizer()
    tiny_bert(num_labels, seed, vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def random_completion(rng: random.Random, sentiment: list[str]) -> str:
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(2, 5))]
    words.insert(rng.randint(0, len(words)), rng.choice(sentiment))
    return " ".join(words)


def synthetic_pairs(count: int, seed: int):
    """Pairs where the chosen completion has a positive word and the rejected one a negative word."""
    from reward_models import PreferencePair

    rng = random.Random(seed)
    return [
        PreferencePair(rng.choice(PROMPTS), random_completion(rng, POSITIVE), random_completion(rng, NEGATIVE))
        for _ in range(count)
    ]
