"""REINFORCE with each baseline, and GRPO, learn a toy task through the env; the KL penalty holds it near the
reference; GRPO is its own class, and the old ``REINFORCE(baseline="grpo")`` spelling still works."""

import json

import pytest
import torch
from tiny_lm import check_kl_penalty_pulls_back_to_reference, check_learns_toy_task, tiny_env, tiny_model

from agents import ALGORITHMS, GRPO, REINFORCE, GRPOConfig, REINFORCEConfig
from agents.common.base import AGENT_FILE


@pytest.mark.parametrize("baseline", ["moving_average", "rloo"])
def test_reinforce_learns_to_emit_positive_words(baseline):
    check_learns_toy_task(REINFORCE, updates=15, baseline=baseline, learning_rate=1e-2, minibatch_size=16)


def test_grpo_learns_to_emit_positive_words():
    check_learns_toy_task(GRPO, updates=15, learning_rate=1e-2, minibatch_size=16)


def test_reinforce_kl_penalty_keeps_policy_near_reference():
    check_kl_penalty_pulls_back_to_reference(REINFORCE, baseline="rloo", learning_rate=3e-3, minibatch_size=16)


def test_group_baselines_need_groups():
    with pytest.raises(ValueError, match="group_size"):
        REINFORCEConfig(baseline="rloo", group_size=1)
    with pytest.raises(ValueError, match="baseline"):
        REINFORCEConfig(baseline="mean")


def test_grpo_clips_the_ratio_over_several_iterations():
    agent = GRPO(tiny_model(), tiny_env(8), seed=0, num_iterations=3, minibatch_size=4, learning_rate=3e-2)
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


GRPO_RUN = {"seed": 0, "group_size": 2, "num_iterations": 2, "minibatch_size": 4, "learning_rate": 1e-2}


def test_reinforce_with_baseline_grpo_warns_and_trains_exactly_as_grpo():
    grpo = GRPO(tiny_model(), tiny_env(8), **GRPO_RUN)
    grpo.learn(8 * 4 * 3, progress_bar=False)
    with pytest.warns(DeprecationWarning, match=r"REINFORCE\(baseline='grpo'\) is deprecated; use agents.GRPO"):
        old = REINFORCE(tiny_model(), tiny_env(8), baseline="grpo", **GRPO_RUN)
    old.learn(8 * 4 * 3, progress_bar=False)
    assert old.n_updates == grpo.n_updates >= 3
    for name, value in grpo.policy.state_dict().items():
        assert torch.equal(old.policy.state_dict()[name], value), name
    assert ALGORITHMS["grpo"] == (GRPO, {})


def test_grpo_config_has_grpo_defaults_and_no_baseline_fields():
    config = GRPOConfig()
    assert (config.baseline, config.group_size, config.num_iterations, config.clip_range) == ("grpo", 4, 1, 0.2)
    assert not {"baseline", "baseline_decay"} & GRPOConfig.field_names()
    with pytest.raises(ValueError, match="group_size must be an integer >= 2"):
        GRPOConfig(group_size=1)


def test_grpo_is_saved_as_grpo_and_an_old_reinforce_grpo_agent_still_loads(tmp_path):
    agent = GRPO(tiny_model(), tiny_env(4), seed=0, group_size=2, clip_range=0.3)
    agent.save(tmp_path / "grpo")
    assert json.loads((tmp_path / "grpo" / AGENT_FILE).read_text())["algorithm"] == "GRPO"
    assert GRPO.load(tmp_path / "grpo").config == agent.config
    with pytest.raises(ValueError, match=r"holds a GRPO agent; load it with GRPO\.load"):
        REINFORCE.load(tmp_path / "grpo")

    with pytest.warns(DeprecationWarning):
        old = REINFORCE(tiny_model(), tiny_env(4), seed=0, baseline="grpo", group_size=2, clip_range=0.3)
    old.save(tmp_path / "old")  # what versions before the GRPO class wrote
    assert json.loads((tmp_path / "old" / AGENT_FILE).read_text())["algorithm"] == "REINFORCE"
    loaded = GRPO.load(tmp_path / "old")
    assert type(loaded) is GRPO and loaded.config == agent.config
    for name, value in old.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[name], value), name
    with pytest.warns(DeprecationWarning):
        assert REINFORCE.load(tmp_path / "old").config.baseline == "grpo"
