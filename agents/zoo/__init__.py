"""Hyperparameters of text-gym ids for RL Baselines3 Zoo: ``python -m rl_zoo3.train --algo ppo --env TextGenChar-v0
--gym-packages text_gym -conf agents.zoo.ppo`` (one module per algorithm, each a ``hyperparams`` dict keyed by env id,
the Zoo's Python config format). See docs/libraries.md."""
