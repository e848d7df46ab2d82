"""Supervised fine-tuning (SFT) of a policy on conversations, the loss on the assistant's tokens only:

- ``config.py``: ``SFTConfig``, the settings (the LoRA and dtype fields are the RL agents').
- ``conversations.py``: the ``messages`` JSONL format and the conversation shape a chat env plays.
- ``masking.py``: ``assistant_labels``, a conversation as a chat env's token context with its loss mask.
- ``trainer.py``: ``train_sft``, the ``transformers.Trainer`` run, its resume and the saved policy.
- ``progress.py``: the run's progress bar.
- ``task_policies.py``: ``task_sft_policy``, each task's SFT policy built once by its recipe (``TASK_SFT_RECIPES``)
  and cached; the policy spec ``"sft:<env id>"``.
"""

from agents.sft.config import SFTConfig
from agents.sft.conversations import check_messages, load_conversations
from agents.sft.masking import IGNORE_INDEX, assistant_labels
from agents.sft.task_policies import TASK_SFT_RECIPES, TaskSFTRecipe, task_sft_folder, task_sft_policy
from agents.sft.trainer import SFTResult, train_sft

__all__ = [
    "IGNORE_INDEX",
    "TASK_SFT_RECIPES",
    "SFTConfig",
    "SFTResult",
    "TaskSFTRecipe",
    "assistant_labels",
    "check_messages",
    "load_conversations",
    "task_sft_folder",
    "task_sft_policy",
    "train_sft",
]
