"""RL Zoo PPO hyperparameters (``-conf agents.zoo.ppo``): ``TextGenChar-v0`` with the LSTM token extractor.

The settings of the PPO + LSTM example of docs/sb3.md. ``python -m rl_zoo3.train --algo ppo --env TextGenChar-v0
--gym-packages text_gym -conf agents.zoo.ppo --seed 0 --eval-freq -1`` ends with ``rollout/ep_rew_mean`` 0.87 on
the 48 train prompts after the 30k steps (a uniformly random policy scores about 0.08)."""

from agents.sb3 import LSTMTokenExtractor

hyperparams = {
    "TextGenChar-v0": dict(
        policy="MultiInputPolicy",
        n_envs=16,
        n_timesteps=30_000,
        n_steps=16,
        batch_size=128,
        n_epochs=4,
        learning_rate=3e-3,
        ent_coef=0.01,
        policy_kwargs=dict(
            features_extractor_class=LSTMTokenExtractor,
            features_extractor_kwargs=dict(embed_dim=16, hidden_size=64),
            net_arch=[64],
        ),
    ),
}
