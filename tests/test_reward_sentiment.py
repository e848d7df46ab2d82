"""The offline default reward model "sentiment": the shipped peft adapter folder loaded onto the packaged MiniLM,
quickly and without writing anything, with a normalised scale and the held-out agreement with VADER that
docs/reward_models.md reports (on the build script's held-out pairs, stored in tests/data; the slow test
re-samples them)."""

import time
from pathlib import Path

import numpy as np
import pytest

from reward_models import HFRewardModel, VaderSentiment, evaluate_preferences, load_preferences, make_reward_model
from reward_models.models.sentiment import SENTIMENT_ADAPTER

POSITIVE = [
    " a wonderful evening, I loved every minute of it.",
    " great fun and the staff were so kind!",
    " the best day I have had in years, truly happy.",
]
NEGATIVE = [
    " a disaster. I hated it and want my money back.",
    " awful, boring and far too loud.",
    " a terrible experience, sad and painful from start to end.",
]


CLEAR_AGREEMENT, ALL_AGREEMENT, HELD_OUT_LOSS = 0.937, 0.822, 0.419
HELD_OUT_PAIRS = Path(__file__).parent / "data" / "sentiment_heldout_pairs.jsonl"
"""`test.jsonl` of scripts/build_sentiment_reward.sh: VADER-ranked SmolLM2 completions of the 96 test prompts."""


def test_shipped_default_is_a_small_peft_adapter_folder_on_minilm():
    from peft import PeftConfig

    files = {p.name: p.stat().st_size for p in SENTIMENT_ADAPTER.iterdir()}
    assert set(files) == {"adapter_config.json", "adapter_model.safetensors", "config.json", "reward_model.json"}
    assert sum(files.values()) < 1_000_000  # float16 rank-8 adapters and the head; the MiniLM encoder is 90 MB
    adapter = PeftConfig.from_pretrained(str(SENTIMENT_ADAPTER))
    assert adapter.base_model_name_or_path == "minilm" and adapter.r == 8  # resolved offline to the packaged MiniLM
    assert "classifier" in adapter.modules_to_save


def test_sentiment_default_builds_offline_fast_and_orders_clear_sentiment(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXT_GYM_CACHE", str(tmp_path))  # a fresh install: nothing cached yet
    start = time.perf_counter()
    model = make_reward_model("sentiment")
    assert time.perf_counter() - start < 30
    assert isinstance(model, HFRewardModel) and not model.include_prompt
    scores = model(["Honestly, the concert was"] * 6, POSITIVE + NEGATIVE)
    assert scores[:3].min() > scores[3:].max()
    assert np.all(np.abs(scores) < 6)  # normalised: training completions have mean 0, std 1
    assert (model.mean, model.std) != (0.0, 1.0)
    assert not list(tmp_path.iterdir())  # loaded from the package: nothing assembled into the cache


def test_env_default_prompts_with_sentiment_reward():
    import gymnasium as gym

    import text_gym  # noqa: F401  (registers TextGen-v0)

    env = gym.make("TextGen-v0", reward_model="sentiment", max_new_tokens=4)
    env.reset(seed=0)
    for _ in range(4):
        _, reward, terminated, _truncated, info = env.step(env.action_space.sample())
    assert terminated and np.isfinite(reward) and reward == info["score"]


def test_sentiment_default_agreement_with_vader_is_the_documented_one():
    metrics = evaluate_preferences(
        make_reward_model("sentiment"), load_preferences(HELD_OUT_PAIRS), gold=VaderSentiment(), min_gold_gap=0.5
    )
    assert metrics["num_pairs"] == 538 and metrics["num_clear_pairs"] == 255 and metrics["gold_accuracy"] == 1.0
    # docs/reward_models.md, "Agreement with VADER" (README: the clear-pair figure)
    assert metrics["clear_accuracy"] == pytest.approx(CLEAR_AGREEMENT, abs=1e-3)
    assert metrics["accuracy"] == pytest.approx(ALL_AGREEMENT, abs=1e-3)
    assert metrics["loss"] == pytest.approx(HELD_OUT_LOSS, abs=1e-3)


@pytest.mark.slow
def test_sentiment_default_agrees_with_vader_on_held_out_prompts(tmp_path):
    """Fresh SmolLM2 completions of the held-out test prompts, labelled by VADER (as in the build script)."""
    from reward_models import LabelConfig, evaluate_preferences, label_preferences, load_preferences
    from text_gym import default_prompts

    config = LabelConfig(output=str(tmp_path / "test.jsonl"), prompts="default:test", seed=1, device="cpu")
    label_preferences(config, default_prompts("test"))
    metrics = evaluate_preferences(
        make_reward_model("sentiment"), load_preferences(config.output), gold=VaderSentiment(), min_gold_gap=0.5
    )
    assert metrics["num_clear_pairs"] >= 100
    assert metrics["clear_accuracy"] >= 0.85
