"""PPO with a token-level critic (``ppo.py``)."""

from agents.ppo.ppo import PPO, PPOConfig

__all__ = ["PPO", "PPOConfig"]
