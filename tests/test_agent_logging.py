"""Tensorboard: the event files hold the rollout / objective / train / time metrics and the samples table."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny_lm import tiny_env, tiny_model

from agents import PPO, REINFORCE

COMMON = {
    "rollout/ep_rew_mean",
    "rollout/score_mean",
    "rollout/gold_score_mean",
    "objective/kl",
    "objective/entropy",
    "objective/kl_coef",
    "train/policy_loss",
    "train/approx_kl",
    "train/learning_rate",
    "time/tokens_per_sec",
    "time/rollout_s",
    "time/update_s",
}
PPO_ONLY = {"train/value_loss", "train/clip_fraction", "train/explained_variance"}


def _events(folder: Path) -> EventAccumulator:
    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("cls,expected", [(PPO, COMMON | PPO_ONLY), (REINFORCE, COMMON)])
def test_tensorboard_has_the_metrics_and_a_samples_table(tmp_path, cls, expected):
    agent = cls(
        tiny_model(), tiny_env(4), seed=0, tensorboard_log=str(tmp_path), gold_reward_model="vader", log_samples_every=2
    )
    agent.learn(4 * 4 * 3, progress_bar=False)
    events = _events(tmp_path)
    assert (tmp_path / f"{cls.__name__}_1").is_dir()  # SB3's run naming
    scalars = set(events.Tags()["scalars"])
    assert expected <= scalars, expected - scalars
    assert len(events.Scalars("rollout/score_mean")) == agent.n_updates
    steps = [e.step for e in events.Scalars("objective/kl")]
    assert steps == sorted(steps) and steps[-1] == agent.num_timesteps
    texts = events.Tensors("samples/text_summary")
    assert len(texts) == len(range(0, agent.n_updates, 2))
    table = texts[0].tensor_proto.string_val[0].decode()
    assert table.startswith("| prompt | completion | score |") and table.count("\n") == 4 + 1
