"""Simulated labelling: sample k completions per prompt from a (tiny) policy and write gold-ranked pairs."""

import pytest

from reward_models import KeywordReward, LabelConfig, label_preferences, load_preferences, rank_pairs


def test_rank_pairs_orders_by_gold_and_skips_ties():
    pairs = rank_pairs("p", ["a", "b", "c", "d"], [0.0, 1.0, 1.0, 0.2], min_gold_gap=0.1, write_margin=True)
    assert [(p.chosen, p.rejected) for p in pairs] == [("b", "a"), ("c", "a"), ("d", "a"), ("b", "d"), ("c", "d")]
    assert pairs[0].margin == pytest.approx(1.0) and pairs[2].margin == pytest.approx(0.2)
    assert rank_pairs("p", ["x", "x"], [0.0, 1.0]) == []  # identical texts carry no preference


def test_label_preferences_with_a_tiny_policy(tmp_path):
    from conftest import make_tiny_tokenizer
    from tiny_lm import tiny_model

    tokenizer = make_tiny_tokenizer()
    tokenizer.padding_side = "left"
    policy = tiny_model(len(tokenizer), n_embd=16, n_layer=1).eval()
    prompts = ["the movie was", "the food is", "it was"]
    config = LabelConfig(
        output=str(tmp_path / "prefs.jsonl"),
        gold="keyword:good,great,love",
        completions_per_prompt=4,
        repeats=2,
        max_new_tokens=8,
        batch_size=5,
        min_gold_gap=0.5,
        seed=0,
    )
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
    with pytest.raises(ValueError, match="completions_per_prompt must be an integer >= 2"):
        LabelConfig(completions_per_prompt=1)
    with pytest.raises(ValueError, match="top_p"):
        LabelConfig(top_p=0.0)


def test_cli_label_with_a_policy_folder_and_a_prompt_file(tmp_path, capsys):
    from conftest import make_tiny_tokenizer
    from tiny_lm import tiny_model

    from scripts.cli import main

    tokenizer = make_tiny_tokenizer()
    tiny_model(len(tokenizer), n_embd=16, n_layer=1).save_pretrained(tmp_path / "policy")
    tokenizer.save_pretrained(tmp_path / "policy")
    (tmp_path / "prompts.txt").write_text("the movie was\nthe food is\n", encoding="utf-8")
    output = tmp_path / "prefs.jsonl"
    assert (
        main(
            [
                "reward",
                "label",
                "--policy",
                str(tmp_path / "policy"),
                "--prompts",
                str(tmp_path / "prompts.txt"),
                "--output",
                str(output),
                "--gold",
                "length",
                "--completions-per-prompt",
                "3",
                "--max-new-tokens",
                "6",
                "--temperature",
                "1.5",
                "--write-margin",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    pairs = load_preferences(output)
    assert f"wrote {len(pairs)} preference pairs" in capsys.readouterr().out
    assert pairs and {p.prompt for p in pairs} <= {"the movie was", "the food is"}
    for pair in pairs:  # chosen is the longer completion, and the margin is the gold gap
        assert len(pair.chosen.split()) - len(pair.rejected.split()) == pair.margin > 0
