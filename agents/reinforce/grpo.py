"""GRPO (Shao et al. 2024) for language models: REINFORCE's code with the group-normalised baseline fixed.

``group_size`` samples per prompt; advantage = (return - group mean) / group std, the return being the episode's
score minus ``beta`` times its summed per-token KL to the reference (the KL penalty is in the reward, as for the
other REINFORCE baselines here, not in the loss as in the paper); GRPO's clipped importance-ratio objective (PPO's
clipped surrogate without a critic) over ``num_iterations`` passes (the paper's mu, TRL's name; with 1 pass of one
minibatch the ratio is 1 and it is the plain policy gradient). As in TRL's ``loss_type="dapo"`` the loss is a token
mean over the minibatch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.common.config import AlgorithmConfig
from agents.reinforce.reinforce import (
    REINFORCE,
    check_group_fields,
    clip_range_field,
    group_size_field,
    normalize_advantage_field,
    num_iterations_field,
)
from reward_models.common.deprecation import without_deprecated_aliases


@dataclass
class GRPOConfig(AlgorithmConfig):
    """GRPO settings (plus the shared ``agents.AlgorithmConfig`` ones); the defaults are those of
    ``REINFORCEConfig(baseline="grpo")``, which it replaces."""

    baseline: ClassVar[str] = "grpo"
    """The advantage baseline REINFORCE's code runs with (fixed, not a field)."""

    group_size: int = group_size_field()
    normalize_advantage: bool = normalize_advantage_field()
    num_iterations: int = num_iterations_field("passes over each rollout (GRPO's mu) of the clipped ratio objective")
    clip_range: float = clip_range_field()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_group_fields(self, grouped=True)


class GRPO(REINFORCE):
    """Group Relative Policy Optimization with an LM policy. See ``agents.BaseAlgorithm``.

    ``load`` also reads agents saved as ``REINFORCE`` with ``baseline="grpo"`` (before GRPO had its own class).
    """

    config_class = GRPOConfig

    @classmethod
    def config_from_record(cls, record: dict[str, Any], path: str | os.PathLike) -> AlgorithmConfig:
        config = record["config"]
        if record["algorithm"] == REINFORCE.__name__ and config.get("baseline") == "grpo":
            values = without_deprecated_aliases(GRPOConfig, config)
            return GRPOConfig(**{name: value for name, value in values.items() if name in GRPOConfig.field_names()})
        return super().config_from_record(record, path)
