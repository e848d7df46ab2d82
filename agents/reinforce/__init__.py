"""The REINFORCE family: moving-average, RLOO and GRPO baselines (``reinforce.py``)."""

from agents.reinforce.reinforce import REINFORCE, REINFORCEConfig

__all__ = ["REINFORCE", "REINFORCEConfig"]
