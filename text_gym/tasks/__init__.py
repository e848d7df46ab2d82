"""The registered tasks: the benchmark suite and the envs configured for one job.

- ``suite.py``: the task table (``TASKS``, ``TaskSpec``), ``gold_reward_spec``, the task env factories.
- ``instruct.py``: ``TextGenInstruct-v0``, instructions with verifiable constraints.
- ``arithmetic.py``: ``TextGenArithmetic-v0``, arithmetic at five difficulty levels.
- ``support.py``: ``TextGenSupport-v0``, the customer-support desk with a scripted customer.
- ``safety.py``: ``TextGenSafety-v0``, provocative requests with a harmlessness gold and an over-correction metric.
"""

from text_gym.tasks.rewards import TASK_REWARD_SPECS, PromptKeywordReward, SupportSuccessReward
from text_gym.tasks.safety import EngagementReward, safety_prompts
from text_gym.tasks.suite import (
    CHAT_TASKS,
    TASKS,
    ChatTaskSpec,
    TaskSpec,
    dialogue_prompts,
    gold_reward_spec,
    keyword_prompts,
    make_task_env,
    make_task_vector_env,
    story_prompts,
    task_defaults,
    task_metrics,
    task_prompts,
)
from text_gym.tasks.support import SCENARIOS, SupportTurnReward, support_rows, support_success

__all__ = [
    "CHAT_TASKS",
    "SCENARIOS",
    "TASKS",
    "TASK_REWARD_SPECS",
    "ChatTaskSpec",
    "EngagementReward",
    "PromptKeywordReward",
    "SupportSuccessReward",
    "SupportTurnReward",
    "TaskSpec",
    "dialogue_prompts",
    "gold_reward_spec",
    "keyword_prompts",
    "make_task_env",
    "make_task_vector_env",
    "safety_prompts",
    "story_prompts",
    "support_rows",
    "support_success",
    "task_defaults",
    "task_metrics",
    "task_prompts",
]
