"""The minibatch updater: gradient accumulation gives the step of the whole minibatch; every step is counted."""

import torch
from tiny_lm import tiny_env, tiny_model

from agents import PPO


def _trained(gradient_accumulation_steps):
    agent = PPO(
        tiny_model(),
        tiny_env(8),
        seed=0,
        n_epochs=2,
        minibatch_size=4,
        learning_rate=1e-2,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    metrics = agent._update(agent.collect_rollouts())
    return agent, metrics


def test_accumulated_micro_batches_give_the_minibatchs_update():
    whole, whole_metrics = _trained(1)
    split, split_metrics = _trained(2)
    assert whole_metrics["train/optimizer_steps"] == split_metrics["train/optimizer_steps"] == 4  # 2 epochs x 2
    assert whole_metrics["train/skipped_steps"] == 0
    for name, value in whole.policy.state_dict().items():
        assert torch.allclose(split.policy.state_dict()[name], value, atol=1e-6), name
    assert abs(whole_metrics["train/loss"] - split_metrics["train/loss"]) < 1e-5
