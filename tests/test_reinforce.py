"""REINFORCE with each baseline learns a toy task through the env; the KL penalty holds it near the reference."""

import pytest
from tiny_lm import check_kl_penalty_pulls_back_to_reference, check_learns_toy_task

from agents import REINFORCE, REINFORCEConfig


@pytest.mark.parametrize("baseline", ["moving_average", "rloo", "grpo"])
def test_reinforce_learns_to_emit_positive_words(baseline):
    check_learns_toy_task(REINFORCE, updates=15, baseline=baseline, learning_rate=1e-2, minibatch_size=16)


def test_reinforce_kl_penalty_keeps_policy_near_reference():
    check_kl_penalty_pulls_back_to_reference(REINFORCE, baseline="rloo", learning_rate=3e-3, minibatch_size=16)


def test_group_baselines_need_groups():
    with pytest.raises(ValueError, match="group_size"):
        REINFORCEConfig(baseline="rloo", group_size=1)
    with pytest.raises(ValueError, match="baseline"):
        REINFORCEConfig(baseline="mean")


def test_grpo_clips_the_ratio_over_several_iterations():
    import torch
    from tiny_lm import tiny_env, tiny_model

    agent = REINFORCE(
        tiny_model(), tiny_env(8), seed=0, baseline="grpo", num_iterations=3, minibatch_size=4, learning_rate=3e-2
    )
    buffer = agent.collect_rollouts()
    metrics = agent._update(buffer)
    assert metrics["train/optimizer_steps"] == 6  # 3 passes x 2 minibatches
    assert metrics["train/clip_fraction"] > 0  # later steps see ratios != 1, and the objective clips them
    with torch.no_grad():
        ids, mask, start = buffer.sequences()
        logprobs, _ = agent.policy(ids, mask, start)
    assert not torch.allclose(logprobs, buffer.logprobs)
    with pytest.raises(ValueError, match="num_iterations=2 needs baseline='grpo'"):
        REINFORCEConfig(baseline="rloo", num_iterations=2)
