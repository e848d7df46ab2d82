"""The single-turn TextGen envs and what every TextGen env is built from.

- ``text_gen.py``: ``TextGenEnv`` (``TextGen-v0``), one completion of one prompt, one token per action.
- ``vector.py``: ``TextGenVectorEnv``, the native batched env (token buffers in torch tensors).
- ``char_level.py``: ``TextGenChar-v0``, one action per character.
- ``settings.py``: ``TextGenSettings``, every constructor setting, checked once (``env.settings``).
- ``episode.py``: ``TextGenTask``, what one episode is (tokenizer, prompts, spaces, end rules, reward).
- ``single.py``: ``SingleTextGenEnv``, what the single envs share (reset's prompt draw, render, ``rebuilt``).
- ``checks.py``: the checks of actions, reset options and step-before-reset every env shares.
- ``masking.py``: ``VocabularyMask``, the allowed next actions (``allowed_tokens``, ``mask_top_k``).
- ``rendering.py``: what ``render()`` gives; the ``rgb_array`` frames.
"""

from text_gym.envs.char_level import PromptLettersReward, char_prompts, char_tokenizer
from text_gym.envs.checks import check_action
from text_gym.envs.episode import TextGenTask
from text_gym.envs.masking import VocabularyMask
from text_gym.envs.settings import TextGenSettings
from text_gym.envs.single import SingleTextGenEnv
from text_gym.envs.text_gen import TextGenEnv
from text_gym.envs.vector import TextGenVectorEnv

__all__ = [
    "PromptLettersReward",
    "SingleTextGenEnv",
    "TextGenEnv",
    "TextGenSettings",
    "TextGenTask",
    "TextGenVectorEnv",
    "VocabularyMask",
    "char_prompts",
    "char_tokenizer",
    "check_action",
]
