"""The registered tasks: the benchmark suite and the envs configured for one job.

- ``suite.py``: the task table (``TASKS``, ``TaskSpec``), ``gold_reward_spec``, the task env factories.
- ``instruct.py``: ``TextGenInstruct-v0``, instructions with verifiable constraints.
- ``arithmetic.py``: ``TextGenArithmetic-v0``, arithmetic at five difficulty levels.
- ``reasoning.py``: ``TextGenReasoning-v0``, reasoning-gym's procedural datasets (the ``reasoning`` extra).
- ``support.py``: ``TextGenSupport-v0``, the customer-support desk with a scripted customer (and a scripted agent).
- ``demonstrations.py``: demonstration conversations from the tasks' own rules, for supervised fine-tuning.
- ``safety.py``: ``TextGenSafety-v0``, provocative requests with a harmlessness gold and an over-correction metric.
"""

from text_gym.tasks.demonstrations import DEMONSTRATION_ENV_IDS, IMPERFECTIONS, task_demonstrations
from text_gym.tasks.reasoning import ReasoningGymReward, dataset_names, reasoning_prompts
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
from text_gym.tasks.support import SCENARIOS, SupportAgent, SupportTurnReward, support_rows, support_success

__all__ = [
    "CHAT_TASKS",
    "DEMONSTRATION_ENV_IDS",
    "IMPERFECTIONS",
    "SCENARIOS",
    "TASKS",
    "TASK_REWARD_SPECS",
    "ChatTaskSpec",
    "EngagementReward",
    "PromptKeywordReward",
    "ReasoningGymReward",
    "SupportAgent",
    "SupportSuccessReward",
    "SupportTurnReward",
    "TaskSpec",
    "dataset_names",
    "dialogue_prompts",
    "gold_reward_spec",
    "keyword_prompts",
    "make_task_env",
    "make_task_vector_env",
    "reasoning_prompts",
    "safety_prompts",
    "story_prompts",
    "support_rows",
    "support_success",
    "task_defaults",
    "task_demonstrations",
    "task_metrics",
    "task_prompts",
]
