"""text-gym: text generation as a Gymnasium environment.

``import text_gym`` registers ``TextGen-v0`` (single env :class:`TextGenEnv`, vector entry point
:class:`TextGenVectorEnv`), so ``gym.make("TextGen-v0")`` and ``gym.make_vec("TextGen-v0", num_envs=N)`` work;
``gym.make("text_gym:TextGen-v0")`` imports it on the fly.
"""

from gymnasium.envs.registration import register, registry

from text_gym.env import TextGenEnv, check_action
from text_gym.prompts import default_prompts, load_prompts
from text_gym.task import TextGenTask
from text_gym.vector import TextGenVectorEnv

if "TextGen-v0" not in registry:
    register(
        id="TextGen-v0",
        entry_point="text_gym.env:TextGenEnv",
        vector_entry_point="text_gym.vector:TextGenVectorEnv",
        max_episode_steps=None,
    )

__all__ = ["TextGenEnv", "TextGenTask", "TextGenVectorEnv", "check_action", "default_prompts", "load_prompts"]
