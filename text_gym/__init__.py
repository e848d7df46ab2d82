"""text-gym: text generation as a Gymnasium environment.

``import text_gym`` registers ``TextGen-v0`` (single env :class:`TextGenEnv`, vector entry point
:class:`TextGenVectorEnv`), so ``gym.make("TextGen-v0")`` and ``gym.make_vec("TextGen-v0", num_envs=N)`` work;
``gym.make("text_gym:TextGen-v0")`` imports it on the fly. ``TextGenChar-v0`` is the small-vocabulary variant
(one action per character, :mod:`text_gym.char_level`). The benchmark suite ``TextGenSentiment-v0``,
``TextGenKeyword-v0``, ``TextGenStory-v0`` and ``TextGenDialogue-v0`` is in :mod:`text_gym.tasks`.
"""

from gymnasium.envs.registration import register, registry

from text_gym.char_level import PromptLettersReward, char_prompts, char_tokenizer
from text_gym.env import TextGenEnv, check_action
from text_gym.masking import VocabularyMask
from text_gym.prompts import default_prompts, load_prompts
from text_gym.task import TextGenTask
from text_gym.tasks import TASKS, TaskSpec, gold_reward_spec, task_prompts
from text_gym.vector import TextGenVectorEnv

if "TextGen-v0" not in registry:
    register(
        id="TextGen-v0",
        entry_point="text_gym.env:TextGenEnv",
        vector_entry_point="text_gym.vector:TextGenVectorEnv",
        max_episode_steps=None,
    )
if "TextGenChar-v0" not in registry:
    register(
        id="TextGenChar-v0",
        entry_point="text_gym.char_level:make_char_env",
        vector_entry_point="text_gym.char_level:make_char_vector_env",
        max_episode_steps=None,
    )
for _task_id in TASKS:
    if _task_id not in registry:
        register(id=_task_id, entry_point="text_gym.tasks:make_task_env",
                 vector_entry_point="text_gym.tasks:make_task_vector_env", max_episode_steps=None,
                 kwargs={"task": _task_id})

__all__ = ["TASKS", "PromptLettersReward", "TaskSpec", "TextGenEnv", "TextGenTask", "TextGenVectorEnv",
           "VocabularyMask", "char_prompts", "char_tokenizer", "check_action", "default_prompts", "gold_reward_spec",
           "load_prompts", "task_prompts"]
