"""RL agents that train a language-model policy through TextGen envs: PPO and the REINFORCE family.

``PPO(policy, env, **config)`` / ``REINFORCE(policy, env, baseline="rloo", ...)`` follow SB3's surface
(``learn``, ``predict``, ``save``, ``load``); the rollout acts one token per env step with a KV-cached policy.
"""

from agents.advantages import explained_variance, gae, group_advantages, masked_mean, masked_var, whiten
from agents.base import BaseAlgorithm, resolve_device
from agents.config import AlgorithmConfig
from agents.evaluate import EvalResult, evaluate, evaluate_lm
from agents.kl import AdaptiveKLController, FixedKLController, kl_estimate
from agents.policy import LMPolicy
from agents.ppo import PPO, PPOConfig
from agents.reinforce import REINFORCE, REINFORCEConfig
from agents.rollout import RolloutBuffer, collect_rollout

ALGORITHMS = {
    "ppo": (PPO, {}),
    "reinforce": (REINFORCE, {"baseline": "moving_average"}),
    "rloo": (REINFORCE, {"baseline": "rloo"}),
    "grpo": (REINFORCE, {"baseline": "grpo"}),
}
"""``text-gym train <name>`` algorithms: the class and the config fields the name fixes."""

__all__ = [
    "ALGORITHMS",
    "PPO",
    "REINFORCE",
    "AdaptiveKLController",
    "AlgorithmConfig",
    "BaseAlgorithm",
    "EvalResult",
    "FixedKLController",
    "LMPolicy",
    "PPOConfig",
    "REINFORCEConfig",
    "RolloutBuffer",
    "collect_rollout",
    "evaluate",
    "evaluate_lm",
    "explained_variance",
    "gae",
    "group_advantages",
    "kl_estimate",
    "masked_mean",
    "masked_var",
    "resolve_device",
    "whiten",
]
