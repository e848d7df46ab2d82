"""The REINFORCE family: moving-average and RLOO baselines (``reinforce.py``) and GRPO, the same code with the
group-normalised baseline and the clipped ratio objective (``grpo.py``)."""

from agents.reinforce.grpo import GRPO, GRPOConfig
from agents.reinforce.reinforce import REINFORCE, REINFORCEConfig

__all__ = ["GRPO", "REINFORCE", "GRPOConfig", "REINFORCEConfig"]
