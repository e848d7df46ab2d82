"""What one training iteration builds, runs and keeps: the KL reference only when something uses it, no gradients
through a rollout, and the fused AdamW."""

import pytest
import torch
from tiny_lm import tiny_env, tiny_model

from agents import PPO, REINFORCE
from agents.common.policy import AdapterDisabledReference


class CountingReference:
    """Wraps an agent's reference and counts its forwards."""

    def __init__(self, reference) -> None:
        self.reference, self.calls = reference, 0

    def __getattr__(self, name):
        return getattr(self.reference, name)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.reference(*args, **kwargs)


def _learn(agent, updates: int = 2):
    agent.learn(agent.n_envs * 4 * updates, progress_bar=False)
    return agent


@pytest.mark.parametrize("lora", [False, True])
def test_no_reference_is_built_or_run_at_kl_coef_zero(lora):
    fields = {"lora_r": 4, "lora_alpha": 8.0} if lora else {}
    agent = REINFORCE(tiny_model(), tiny_env(4), seed=0, kl_coef=0.0, **fields)
    assert agent.ref_policy is None  # no frozen copy of the weights (full) / no adapter-disabled pass (LoRA)
    buffer = agent.collect_rollouts()
    assert buffer.ref_logprobs is None
    metrics = agent._update(buffer)
    assert "objective/kl" not in metrics  # not measured, so not logged (TRL with beta=0 does the same)
    assert metrics["objective/kl_coef"] == 0.0
    assert metrics["objective/rlhf_reward"] == pytest.approx(float(buffer.scores.mean()))


@pytest.mark.parametrize(
    "fields, kind",
    [
        ({"kl_coef": 0.05}, "copy"),
        ({"kl_coef": 0.05, "lora_r": 4, "lora_alpha": 8.0}, "adapters"),
        ({"kl_coef": 0.0, "measure_kl": True}, "copy"),
        ({"kl_coef": 0.0, "adaptive_kl": True}, "copy"),
    ],
)
def test_the_reference_runs_once_per_rollout_when_penalised_or_measured(fields, kind):
    agent = PPO(tiny_model(), tiny_env(4), seed=0, n_epochs=1, minibatch_size=4, **fields)
    assert isinstance(agent.ref_policy, AdapterDisabledReference) == (kind == "adapters")
    agent.ref_policy = counting = CountingReference(agent.ref_policy)
    recorder = []
    agent.learn(4 * 4 * 2, progress_bar=False, callback=lambda local, _: recorder.append(local["buffer"]) or True)
    assert counting.calls == agent.n_updates == len(recorder) >= 2
    assert all(buffer.ref_logprobs is not None for buffer in recorder)


def test_training_without_a_reference_logs_no_kl(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    agent = REINFORCE(tiny_model(), tiny_env(4), seed=0, kl_coef=0.0, tensorboard_log=str(tmp_path))
    _learn(agent)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert "rollout/score_mean" in scalars and "objective/kl_coef" in scalars
    assert "objective/kl" not in scalars


@pytest.mark.parametrize("cls", [PPO, REINFORCE])
def test_no_gradient_tensors_are_alive_when_a_rollout_starts(cls):
    agent = cls(tiny_model(), tiny_env(4), seed=0, minibatch_size=2)
    before = [p.detach().clone() for p in agent.policy.parameters()]
    collect, seen = agent.collect_rollouts, []

    def checked_rollout():
        seen.append(sum(p.grad is not None for p in agent.policy.parameters()))
        return collect()

    agent.collect_rollouts = checked_rollout
    _learn(agent, updates=3)
    assert len(seen) == agent.n_updates >= 3 and seen == [0] * len(seen)
    assert any(not torch.equal(p, q) for p, q in zip(agent.policy.parameters(), before, strict=True))  # it trained


def test_the_optimizer_is_torchs_fused_adamw_on_cpu():
    agent = REINFORCE(tiny_model(), tiny_env(4), seed=0, learning_rate=3e-4, adam_eps=1e-7, weight_decay=0.01)
    assert agent.optimizer.optimizer.defaults["fused"] is True  # inside accelerate's AcceleratedOptimizer
    assert {k: agent.optimizer.optimizer.defaults[k] for k in ("lr", "eps", "weight_decay")} == {
        "lr": 3e-4,
        "eps": 1e-7,
        "weight_decay": 0.01,
    }
