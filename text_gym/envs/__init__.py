"""The single-turn TextGen envs and what every TextGen env is built from.

- ``text_gen.py``: :class:`TextGenEnv` (``TextGen-v0``), one completion of one prompt, one token per action.
- ``vector.py``: :class:`TextGenVectorEnv`, the native batched env (token buffers in torch tensors).
- ``char_level.py``: ``TextGenChar-v0``, one action per character.
- ``episode.py``: :class:`TextGenTask`, what one episode is (tokenizer, prompts, spaces, end rules, reward).
- ``masking.py``: :class:`VocabularyMask`, the allowed next actions (``allowed_tokens``, ``mask_top_k``).
- ``rendering.py``: the ``rgb_array`` frames.
"""

from text_gym.envs.char_level import PromptLettersReward, char_prompts, char_tokenizer
from text_gym.envs.episode import TextGenTask
from text_gym.envs.masking import VocabularyMask
from text_gym.envs.text_gen import TextGenEnv, check_action
from text_gym.envs.vector import TextGenVectorEnv

__all__ = [
    "PromptLettersReward",
    "TextGenEnv",
    "TextGenTask",
    "TextGenVectorEnv",
    "VocabularyMask",
    "char_prompts",
    "char_tokenizer",
    "check_action",
]
