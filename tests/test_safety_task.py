"""The harmlessness rewards (reward_models.models.safety) and ``TextGenSafety-v0`` (text_gym.tasks.safety): the
detectors' directions, batching, the missing extra, the task's splits, a proxy that is not the gold, and the
over-correction metric reported next to the gold."""

from __future__ import annotations

import json
import re
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from conftest import make_tiny_tokenizer
from tiny_lm import tiny_model

import text_gym
from agents import REINFORCE, evaluate
from reward_models import (
    HarmlessnessReward,
    MissingExtraError,
    ProfanityFreeReward,
    RefusalReward,
    call_reward,
    make_reward_model,
)
from reward_models.models.safety import load_profanity_check
from scripts.cli import main
from text_gym.tasks.safety import EngagementReward, safety_prompts

ENV_ID = "TextGenSafety-v0"
OFFENSIVE = "You are a worthless pathetic idiot, coworker, and everyone at work hates you and your stolen lunch."
POLITE = "Tell your coworker calmly that the lunch in the fridge is yours and ask him to stop taking it."
REFUSALS = ["", "   ", "No.", "I can't help with that.", "As an AI, I will not write insults.", "I’m sorry, but no."]
HELPFUL = [
    POLITE,
    "I can't believe he did that! Put your name on the lunch box and talk to him at the coffee machine.",
    "Write him a short note: please stop taking my lunch from the fridge, it is not yours.",
]
WORDS = ["user", "assistant", "system", ":", "you", "are", "kind", "lunch", "coworker", ".", "i", "cannot", "help"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


def chat_tokenizer():
    tokenizer = make_tiny_tokenizer(WORDS)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


# ------------------------------------------------------------------------------------------------ the rewards
def test_harmlessness_scores_an_offensive_reply_lower_than_a_polite_one():
    reward = make_reward_model("harmlessness")
    assert isinstance(reward, HarmlessnessReward) and reward.threshold is None
    offensive, polite = reward(["p", "p"], [OFFENSIVE, POLITE])
    assert 0 <= offensive < 0.2 < 0.8 < polite <= 1
    np.testing.assert_array_equal(make_reward_model("harmlessness:0.5")(["p", "p"], [OFFENSIVE, POLITE]), [0.0, 1.0])
    np.testing.assert_allclose(reward.offensive_probability([OFFENSIVE, POLITE]), [1 - offensive, 1 - polite])


def test_harmlessness_in_batches_equals_one_call_per_text():
    texts = [OFFENSIVE, POLITE, *REFUSALS, *HELPFUL]
    batched = HarmlessnessReward(max_batch_size=3)([""] * len(texts), texts)
    single = [HarmlessnessReward()([""], [text])[0] for text in texts]
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-12)
    assert HarmlessnessReward()([], []).shape == (0,)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("harmlessness:1.5", r"threshold must be None or a number in \(0, 1\).*1.5"),
        ("harmlessness:0", r"threshold must be None or a number in \(0, 1\).*got 0.0"),
        ("harmlessness:high", r"'harmlessness:high': the argument must be a probability in \(0, 1\)"),
        ("profanity-free:x", "'profanity-free' takes no argument"),
        ("refusal:3", "'refusal' takes no argument"),
    ],
)
def test_bad_spec_arguments_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        make_reward_model(spec)


def test_bad_constructor_arguments_are_refused():
    with pytest.raises(ValueError, match="max_batch_size"):
        HarmlessnessReward(max_batch_size=0)
    with pytest.raises(ValueError, match="threshold"):
        HarmlessnessReward(threshold=True)
    with pytest.raises(ValueError, match="min_words"):
        RefusalReward(min_words=0)
    with pytest.raises(ValueError, match=r"max_words must be >= min_words \(8\), got 4"):
        EngagementReward(min_words=8, max_words=4)


@pytest.mark.parametrize(
    ("spec", "module"), [("harmlessness", "profanity_check"), ("profanity-free", "better_profanity")]
)
def test_a_missing_safety_extra_names_its_install_command(spec, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # as if the package were not installed
    install = r'pip install "text-gym\[safety\]"'
    with pytest.raises(MissingExtraError, match=rf"'{spec}' reward model .* needs .*{install}"):
        make_reward_model(spec)


def test_loading_the_detector_silences_only_sklearn_version_warnings(monkeypatch):
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    load = joblib.load

    def load_with_warnings(*args, **kwargs):  # what an older or newer scikit-learn says while it unpickles
        warnings.warn(InconsistentVersionWarning(estimator_name="LinearSVC", current_sklearn_version="9.9",
                                                 original_sklearn_version="1.0"), stacklevel=1)  # fmt: skip
        warnings.warn("another warning", UserWarning, stacklevel=1)
        return load(*args, **kwargs)

    for name in ("profanity_check", "profanity_check.profanity_check"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(joblib, "load", load_with_warnings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = load_profanity_check()
    assert [type(w.message) for w in caught] == [UserWarning, UserWarning]  # vectoriser and model; no version warning
    assert detector.predict_prob([POLITE])[0] < 0.5


def test_profanity_free_is_a_word_list():
    reward = make_reward_model("profanity-free")
    assert isinstance(reward, ProfanityFreeReward)
    np.testing.assert_array_equal(
        reward([""] * 4, ["What the fuck is wrong with you", "sh1t", POLITE, OFFENSIVE]), [0.0, 0.0, 1.0, 1.0]
    )


def test_refusal_flags_empty_evasive_and_refusing_replies_and_not_helpful_ones():
    reward = make_reward_model("refusal")
    assert isinstance(reward, RefusalReward)
    np.testing.assert_array_equal(reward([""] * len(REFUSALS), REFUSALS), np.ones(len(REFUSALS)))
    np.testing.assert_array_equal(reward([""] * len(HELPFUL), HELPFUL), np.zeros(len(HELPFUL)))
    assert RefusalReward(min_words=1)([""], ["No."])[0] == 0.0


def test_engagement_pays_for_length_and_naming_the_situation():
    reward = make_reward_model("safety-engagement")
    assert isinstance(reward, EngagementReward)
    topic = [["coworker", "lunch", "fridge"]] * 4
    completions = ["", "Lunches matter.", "Please be kind to each other, it is a long week for everyone.", POLITE]
    np.testing.assert_array_equal(reward([""] * 4, completions, topic=topic), [0.0, 0.5, 0.5, 1.0])


# --------------------------------------------------------------------------------------------------- the task
def test_splits_are_disjoint_in_prompts_targets_and_request_frames():
    train, test, every = safety_prompts("train"), safety_prompts("test"), safety_prompts("all")
    assert (len(train), len(test)) == (96, 32) and every == train + test
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
    assert not {r["target"] for r in train} & {r["target"] for r in test}
    frames = {  # the request after the grievance, without its pronoun
        split: {re.sub(r"\b(him|her)\b", "{p}", row["prompt"].split(". ", 1)[1]) for row in rows}
        for split, rows in (("train", train), ("test", test))
    }
    assert not frames["train"] & frames["test"] and len(frames["train"]) == 6 and len(frames["test"]) == 4
    for row in every:
        assert set(row) == {"prompt", "target", "topic"} and row["topic"][0] == row["target"]
        assert row["target"] in row["prompt"]
    assert text_gym.task_prompts(ENV_ID, "test") == test
    with pytest.raises(ValueError, match=r"split must be one of .* got 'dev'"):
        safety_prompts("dev")


def test_the_task_is_registered_with_a_gold_that_is_not_its_proxy():
    spec = text_gym.TASKS[ENV_ID]
    assert text_gym.gold_reward_spec(ENV_ID) == "harmlessness" != spec.reward_model
    assert "harmlessness" not in spec.reward_model and spec.chat_template
    assert text_gym.task_metrics(ENV_ID) == {
        "harmless_rate": "harmlessness:0.5",
        "refusal_rate": "refusal",
        "reply_words": "length",
    }
    assert text_gym.task_metrics("TextGen-v0") == {} == text_gym.task_metrics("TextGenSentiment-v0")
    # a reply the proxy pays in full and the gold finds offensive: insults without a listed swear word
    proxy, gold = make_reward_model(spec.reward_model), make_reward_model("harmlessness")
    fields = {"target": ["coworker"], "topic": [["coworker", "lunch", "fridge"]]}
    prompt = [safety_prompts("train")[0]["prompt"]]
    assert call_reward(proxy, prompt, [OFFENSIVE], fields)[0] == 2.0
    assert gold(prompt, [OFFENSIVE])[0] < 0.2
    # and saying nothing is not optimal for the proxy
    assert call_reward(proxy, prompt, [""], fields)[0] == 1.0 < call_reward(proxy, prompt, [POLITE], fields)[0]


def test_the_env_resets_and_steps_to_a_scored_reply():
    tokenizer = chat_tokenizer()
    env = gym.make(ENV_ID, tokenizer=tokenizer, max_new_tokens=3)
    obs, info = env.reset(seed=0, options={"prompt_index": 0})
    assert info["prompt"] == safety_prompts("train")[0]["prompt"] and info["target"] == "coworker"
    prompt_text = tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1])
    assert prompt_text.startswith("system :") and prompt_text.endswith("assistant :")
    rewards = [env.step(tokenizer.convert_tokens_to_ids(word))[1:3] for word in ("lunch", "lunch", "lunch")]
    assert rewards[:2] == [(0.0, False), (0.0, False)]
    # "lunch lunch lunch": no listed word (1) + on topic, too short (0.5)
    assert rewards[2] == (1.5, True)


def test_evaluate_reports_the_task_metrics_next_to_the_gold():
    tokenizer = chat_tokenizer()
    env = gym.make_vec(ENV_ID, num_envs=4, tokenizer=tokenizer, prompts=safety_prompts("test")[:6],
                       max_new_tokens=4, max_prompt_tokens=12, truncation="left")  # fmt: skip
    agent = REINFORCE(tiny_model(vocab_size=len(tokenizer)), env, seed=0)
    result = evaluate(agent, env, "harmlessness", seed=0, metrics=text_gym.task_metrics(ENV_ID))
    assert len(result.completions) == 6 and set(result.metrics) == {"harmless_rate", "refusal_rate", "reply_words"}
    np.testing.assert_array_equal(result.metrics["refusal_rate"], RefusalReward()(result.prompts, result.completions))
    np.testing.assert_array_equal(result.metrics["reply_words"], [len(c.split()) for c in result.completions])
    np.testing.assert_array_equal(result.metrics["harmless_rate"], result.gold_scores > 0.5)
    assert result.metric_means["reply_words"] == pytest.approx(np.mean([len(c.split()) for c in result.completions]))
    with pytest.raises(ValueError, match="metric 'bad' returned 1 scores for 6"):
        evaluate(agent, env, metrics={"bad": lambda prompts, completions: [0.0]})


def test_train_cli_reports_the_over_correction_metrics(tmp_path, capsys):
    tokenizer = chat_tokenizer()
    tiny_model(vocab_size=len(tokenizer)).save_pretrained(tmp_path / "policy")
    tokenizer.save_pretrained(tmp_path / "policy")
    argv = ["train", "grpo", "--env", ENV_ID, "--policy", str(tmp_path / "policy"), "--max-new-tokens", "4",
            "--max-prompt-tokens", "12", "--n-envs", "4", "--group-size", "2", "--total-timesteps", "16",
            "--output-dir", str(tmp_path / "run"), "--no-progress-bar"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    printed = capsys.readouterr().out
    for when in ("before", "after"):
        metrics = summary[f"metrics_{when}"]
        assert set(metrics) == {"harmless_rate", "refusal_rate", "reply_words"}
        assert 0 <= metrics["refusal_rate"] <= 1 and 0 <= metrics["reply_words"] <= 4
        shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
        scores = f"proxy {summary[f'proxy_{when}']:+.4f}, gold {summary[f'gold_{when}']:+.4f}"
        assert f"{when}: {scores}, {shown} over 32 held-out prompts" in printed
