"""The task rewards and their spec table ``TASK_REWARD_SPECS``, registered by ``import text_gym`` next to the
env ids: ``"prompt-keyword"`` (``TextGenKeyword-v0``), ``"support-turn"`` and ``"support-success"``
(``TextGenSupport-v0``'s per-turn proxy and gold), ``"reasoning-gym"`` (``TextGenReasoning-v0``),
``"safety-engagement"`` (the helpfulness term of ``TextGenSafety-v0``'s proxy)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from reward_models import BaseRewardModel, RewardFn, no_argument
from text_gym.tasks.reasoning import ReasoningGymReward
from text_gym.tasks.safety import EngagementReward
from text_gym.tasks.support import SupportTurnReward, support_success

_QUOTED = re.compile(r"'([^']+)'")


class PromptKeywordReward(BaseRewardModel):
    """1.0 when the completion contains the prompt's quoted word as a whole word (case-insensitive), else 0.0;
    a prompt without a quoted word scores 0. Exact: it is its own gold metric."""

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        scores = np.zeros(len(completions))
        for index, (prompt, completion) in enumerate(zip(prompts, completions, strict=False)):
            match = _QUOTED.search(prompt)
            if match and re.search(rf"\b{re.escape(match.group(1))}\b", completion, re.IGNORECASE):
                scores[index] = 1.0
        return scores


class SupportSuccessReward(BaseRewardModel):
    """``text_gym.support_success`` as a reward model (spec ``"support-success"``): 1 or 0 per episode of
    ``TextGenSupport-v0``, from the episode's ``conversations`` (the field an agent's gold reward model gets on a chat
    env: ``text_gym.chat.gold.gold_fields``) and the support rows' fields. The support task's gold metric."""

    def score(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        conversations: Sequence[Any],
        facts: Sequence[Any],
        required: Sequence[Any],
        solution: Sequence[Any],
        patience: Sequence[Any],
    ) -> np.ndarray:
        return support_success(conversations, facts=facts, required=required, solution=solution, patience=patience)


TASK_REWARD_SPECS: dict[str, Callable[[str | None], RewardFn]] = {
    "prompt-keyword": no_argument("prompt-keyword", PromptKeywordReward),
    "support-turn": no_argument("support-turn", SupportTurnReward),
    "support-success": no_argument("support-success", SupportSuccessReward),
    "reasoning-gym": no_argument("reasoning-gym", ReasoningGymReward),
    "safety-engagement": no_argument("safety-engagement", EngagementReward),
}
"""The task rewards' spec table, name -> factory."""
