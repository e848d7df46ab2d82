"""The causal-LM policy for sb3-contrib's ``MaskablePPO`` (sb3-contrib is the ``sb3`` extra)."""

from __future__ import annotations

from agents.sb3.policy import _LMPolicyMixin
from reward_models.common import require_extra

_maskable = require_extra("sb3_contrib.common.maskable.policies", "sb3", "MaskableLMActorCriticPolicy (MaskablePPO)")


class MaskableLMActorCriticPolicy(_LMPolicyMixin, _maskable.MaskableActorCriticPolicy):
    """Causal-LM policy for sb3-contrib's ``MaskablePPO``; masked tokens get probability 0."""
