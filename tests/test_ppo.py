"""PPO learns a toy task through the env, and its KL penalty holds the policy near the reference."""

import pytest
import torch
from tiny_lm import check_kl_penalty_pulls_back_to_reference, check_learns_toy_task, tiny_env, tiny_model

from agents import PPO, PPOConfig


def test_ppo_learns_to_emit_positive_words():
    check_learns_toy_task(PPO, learning_rate=3e-3, n_epochs=4, minibatch_size=8)


def test_ppo_kl_penalty_keeps_policy_near_reference():
    check_kl_penalty_pulls_back_to_reference(PPO, learning_rate=3e-3, n_epochs=4)


@pytest.mark.parametrize("separate_critic", [False, True])
def test_value_function_learns_the_return(separate_critic):
    agent = PPO(
        tiny_model(),
        tiny_env(16, reward_model=lambda p, c: [0.7] * len(c)),
        seed=0,
        kl_coef=0.0,
        learning_rate=3e-3,
        n_epochs=4,
        clip_range_vf=None,
        separate_critic=separate_critic,
        gradient_accumulation_steps=2,
        kl_estimator="k3",
    )
    assert (agent.policy.critic is not None) == separate_critic
    agent.learn(16 * 4 * 8, progress_bar=False)
    buffer = agent.collect_rollouts()
    values = buffer.values[buffer.response_mask == 1]
    assert float((values - 0.7).abs().mean()) < 0.15, values


def test_missing_eos_penalty_and_score_normalisation():
    agent = PPO(tiny_model(), tiny_env(16, max_new_tokens=3), seed=0, missing_eos_penalty=1.0)
    buffer = agent.collect_rollouts()
    no_eos = torch.tensor([r != "eos" for r in buffer.stop_reasons])
    assert no_eos.any()
    assert torch.allclose(agent.shaped_scores(buffer), buffer.scores - no_eos.float())
    normalised = PPO(tiny_model(), tiny_env(16), seed=0, normalize_scores=True)
    scores = normalised.shaped_scores(normalised.collect_rollouts())
    assert abs(float(scores.mean())) < 1e-5 and abs(float(scores.std(unbiased=False)) - 1) < 1e-3


@pytest.mark.parametrize(
    "bad",
    [
        {"n_epochs": 0},
        {"gamma": 1.5},
        {"clip_range": 0.0},
        {"minibatch_size": 6, "gradient_accumulation_steps": 4},
        {"kl_estimator": "k2"},
        {"learning_rate": -1.0},
    ],
)
def test_bad_config_is_rejected_with_the_field_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PPOConfig(**bad)


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError, match="n_step"):
        PPO(tiny_model(), None, n_step=3)


def test_bfloat16_autocast_trains_float32_weights():
    agent = PPO(tiny_model(), tiny_env(4), seed=0, compute_dtype="bfloat16", learning_rate=1e-3)
    assert agent.compute_dtype == torch.bfloat16
    before = agent.policy.model.transformer.wte.weight.clone()
    agent.learn(4 * 4, progress_bar=False)
    weight = agent.policy.model.transformer.wte.weight
    assert weight.dtype == torch.float32 and not torch.equal(weight, before) and torch.isfinite(weight).all()


def test_gradient_checkpointing_gives_the_same_update():
    weights = []
    for checkpointing in (False, True):
        # share_prompt off: the update shares no prompt under checkpointing, so with it on the two runs would take
        # different (equally exact) paths whose float rounding Adam at lr 1e-2 amplifies past this tolerance.
        agent = PPO(
            tiny_model(),
            tiny_env(4),
            seed=0,
            learning_rate=1e-2,
            gradient_checkpointing=checkpointing,
            share_prompt=False,
        )
        assert any(getattr(m, "gradient_checkpointing", False) for m in agent.policy.modules()) == checkpointing
        agent.learn(4 * 4 * 2, progress_bar=False)
        weights.append(agent.policy.state_dict())
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value, atol=1e-6, rtol=1e-5, msg=name)
