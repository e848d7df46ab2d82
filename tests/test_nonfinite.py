"""Non-finite rewards and losses never reach the weights.

Specified behaviour: a reward model returning NaN / inf, or a finite score beyond float32's range (which the
env's float32 rewards cannot hold), is rejected by the env (``ValueError``), which stops training with that error;
a non-finite loss or gradient skips the optimizer step with a ``RuntimeWarning``; after ``max_skipped_updates``
consecutive updates with every step skipped training stops with a ``RuntimeError``.
"""

import pytest
import torch
from tiny_lm import tiny_env, tiny_model

from agents import PPO, REINFORCE


def _weights(agent):
    return {k: v.clone() for k, v in agent.policy.state_dict().items()}


def _unchanged(agent, before):
    return all(torch.equal(agent.policy.state_dict()[k], v) for k, v in before.items())


def test_nan_from_the_reward_model_stops_with_a_clear_error():
    agent = REINFORCE(tiny_model(), tiny_env(4, reward_model=lambda p, c: [float("nan")] * len(c)), seed=0)
    before = _weights(agent)
    with pytest.raises(ValueError, match="non-finite scores"):
        agent.learn(100, progress_bar=False)
    assert _unchanged(agent, before)


@pytest.mark.parametrize("cls", [PPO, REINFORCE])
def test_score_beyond_float32_range_stops_with_a_clear_error(cls):
    agent = cls(tiny_model(), tiny_env(4, reward_model=lambda p, c: [1e39] * len(c)), seed=0)
    before = _weights(agent)
    with pytest.raises(
        ValueError,
        match=r"returned scores \[1e\+39.*\] at batch positions \[0.*\] outside "
        r"float32's range",
    ):
        agent.learn(100, progress_bar=False)
    assert agent.n_updates == 0 and _unchanged(agent, before)


def test_non_finite_loss_skips_the_optimizer_step():
    agent = PPO(tiny_model(), tiny_env(4), seed=0, max_skipped_updates=2)
    before = _weights(agent)
    evaluate = agent.policy.forward

    def poisoned(*args, **kwargs):
        logprobs, values = evaluate(*args, **kwargs)
        return logprobs * float("nan"), values

    agent.policy.forward = poisoned
    with (
        pytest.warns(RuntimeWarning, match="non-finite loss"),
        pytest.raises(RuntimeError, match="2 consecutive updates"),
    ):
        agent.learn(4 * 4 * 10, progress_bar=False)
    assert _unchanged(agent, before)
    agent.policy.forward = evaluate
    agent.learn(4 * 4 * 2, progress_bar=False)
    assert not _unchanged(agent, before)
