"""RL agents that train a language-model policy through TextGen envs: PPO, the REINFORCE family and GRPO.

``PPO(policy, env, **config)`` / ``REINFORCE(policy, env, baseline="rloo", ...)`` / ``GRPO(policy, env, ...)``
follow SB3's surface
(``learn``, ``predict``, ``save``, ``load``); the rollout acts one token per env step with a KV-cached policy.
``peft_config=peft.LoraConfig(...)`` (or ``lora_r=...``) trains LoRA adapters; under ``accelerate launch`` /
``torchrun`` the agents train data-parallel (docs/agents.md, "Scaling"). ``train_sft(SFTConfig(...))`` fine-tunes a
policy on conversations first (supervised, the loss on the assistant's tokens; docs/agents.md, "SFT").
"""

from agents.common.advantages import explained_variance, gae, group_advantages, masked_mean, masked_var, whiten
from agents.common.base import BaseAlgorithm
from agents.common.config import AlgorithmConfig
from agents.common.evaluate import EvalResult, evaluate, evaluate_lm
from agents.common.kl import AdaptiveKLController, FixedKLController, check_kl_coef, kl_estimate
from agents.common.losses import clipped_policy_loss, clipped_value_loss, reinforce_loss, token_mean
from agents.common.on_policy import OnPolicyAlgorithm
from agents.common.policy import AdapterDisabledReference, LMPolicy, selective_logprobs
from agents.common.rollout import RolloutBuffer, collect_rollout
from agents.ppo.ppo import PPO, PPOConfig
from agents.reinforce import GRPO, REINFORCE, GRPOConfig, REINFORCEConfig
from agents.sft import (
    TASK_SFT_RECIPES,
    SFTConfig,
    SFTResult,
    TaskSFTRecipe,
    assistant_labels,
    load_conversations,
    task_sft_policy,
    train_sft,
)
from reward_models.common import resolve_device
from reward_models.common.moved_modules import alias_moved_modules

ALGORITHMS = {
    "ppo": (PPO, {}),
    "reinforce": (REINFORCE, {"baseline": "moving_average"}),
    "rloo": (REINFORCE, {"baseline": "rloo"}),
    "grpo": (GRPO, {}),
}
"""``text-gym train <name>`` algorithms: the class and the config fields the name fixes."""

# Module paths of the flat layout (before the envs/, chat/, tasks/ ... folders): importable, with a DeprecationWarning.
alias_moved_modules(
    {
        "agents.base": "agents.common.base",
        "agents.config": "agents.common.config",
        "agents.rollout": "agents.common.rollout",
        "agents.policy": "agents.common.policy",
        "agents.static_decode": "agents.common.static_decode",
        "agents.advantages": "agents.common.advantages",
        "agents.losses": "agents.common.losses",
        "agents.kl": "agents.common.kl",
        "agents.schedules": "agents.common.schedules",
        "agents.checkpoint": "agents.common.checkpoint",
        "agents.distributed": "agents.common.distributed",
        "agents.envs": "agents.common.envs",
        "agents.logger": "agents.common.logger",
        "agents.callbacks": "agents.common.callbacks",
    }
)

__all__ = [
    "ALGORITHMS",
    "GRPO",
    "PPO",
    "REINFORCE",
    "TASK_SFT_RECIPES",
    "AdapterDisabledReference",
    "AdaptiveKLController",
    "AlgorithmConfig",
    "BaseAlgorithm",
    "EvalResult",
    "FixedKLController",
    "GRPOConfig",
    "LMPolicy",
    "OnPolicyAlgorithm",
    "PPOConfig",
    "REINFORCEConfig",
    "RolloutBuffer",
    "SFTConfig",
    "SFTResult",
    "TaskSFTRecipe",
    "assistant_labels",
    "check_kl_coef",
    "clipped_policy_loss",
    "clipped_value_loss",
    "collect_rollout",
    "evaluate",
    "evaluate_lm",
    "explained_variance",
    "gae",
    "group_advantages",
    "kl_estimate",
    "load_conversations",
    "masked_mean",
    "masked_var",
    "reinforce_loss",
    "resolve_device",
    "selective_logprobs",
    "task_sft_policy",
    "token_mean",
    "train_sft",
    "whiten",
]
