"""The registered tasks: the benchmark suite and the envs configured for one job.

- ``suite.py``: the task table (:data:`TASKS`, :class:`TaskSpec`), ``gold_reward_spec``, the task env factories.
- ``instruct.py``: ``TextGenInstruct-v0``, instructions with verifiable constraints.
- ``arithmetic.py``: ``TextGenArithmetic-v0``, arithmetic at five difficulty levels.
- ``support.py``: ``TextGenSupport-v0``, the customer-support desk with a scripted customer.
"""

from text_gym.tasks.suite import TASKS, TaskSpec, gold_reward_spec, task_prompts
from text_gym.tasks.support import SCENARIOS, SupportTurnReward, support_rows, support_success

__all__ = [
    "SCENARIOS",
    "TASKS",
    "SupportTurnReward",
    "TaskSpec",
    "gold_reward_spec",
    "support_rows",
    "support_success",
    "task_prompts",
]
