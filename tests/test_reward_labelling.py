"""Simulated labelling: sample k completions per prompt from a (tiny) policy and write gold-ranked pairs."""

import pytest
import torch

from reward_models import LabelConfig, KeywordReward, label_preferences, load_preferences, rank_pairs


def test_rank_pairs_orders_by_gold_and_skips_ties():
    pairs = rank_pairs("p", ["a", "b", "c", "d"], [0.0, 1.0, 1.0, 0.2], min_gold_gap=0.1, write_margin=True)
    assert [(p.chosen, p.rejected) for p in pairs] == [("b", "a"), ("c", "a"), ("d", "a"), ("b", "d"), ("c", "d")]
    assert pairs[0].margin == pytest.approx(1.0) and pairs[2].margin == pytest.approx(0.2)
    assert rank_pairs("p", ["x", "x"], [0.0, 1.0]) == []  # identical texts carry no preference


def test_label_preferences_with_a_tiny_policy(tmp_path):
    from conftest import make_tiny_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tiny_tokenizer()
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    policy = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=1, n_head=2,
                                        eos_token_id=2, bos_token_id=2, pad_token_id=0)).eval()
    prompts = ["the movie was", "the food is", "it was"]
    config = LabelConfig(output=str(tmp_path / "prefs.jsonl"), gold="keyword:good,great,love", completions_per_prompt=4,
                         repeats=2, max_new_tokens=8, batch_size=5, min_gold_gap=0.5, seed=0)
    written = label_preferences(config, prompts, policy=(policy, tokenizer))
    pairs = load_preferences(config.output)
    assert 0 < written == len(pairs) <= 2 * len(prompts) * 6
    gold = KeywordReward(["good", "great", "love"])
    for pair in pairs:
        assert pair.prompt in prompts
        assert gold([pair.prompt], [pair.chosen])[0] >= gold([pair.prompt], [pair.rejected])[0] + 1
    again = label_preferences(config, prompts, policy=(policy, tokenizer))  # appends, same seed -> same rows
    assert load_preferences(config.output) == pairs + pairs[:again]


def test_label_config_validates():
    with pytest.raises(ValueError, match="completions_per_prompt must be >= 2"):
        LabelConfig(completions_per_prompt=1)
    with pytest.raises(ValueError, match="top_p"):
        LabelConfig(top_p=0.0)
