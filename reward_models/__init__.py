"""Reward models for text-gym: the interface, the spec-string registry, gold labellers and learned models."""

from reward_models.base import BaseRewardModel, RewardFn, RewardModel, check_scores
from reward_models.gold import VaderSentiment
from reward_models.packaged import cache_dir, load_tokenizer, resolve_model_path
from reward_models.registry import make_reward_model, register_reward_model, registered_reward_models

register_reward_model("vader", lambda argument: VaderSentiment(include_prompt=argument == "with-prompt"))

__all__ = [
    "BaseRewardModel",
    "RewardFn",
    "RewardModel",
    "VaderSentiment",
    "cache_dir",
    "check_scores",
    "load_tokenizer",
    "make_reward_model",
    "register_reward_model",
    "registered_reward_models",
    "resolve_model_path",
]
