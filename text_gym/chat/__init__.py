"""The multi-turn chat envs and their simulated users.

- ``env.py``: ``TextGenChatEnv`` (``TextGenChat-v0``), a one-env view of the vector env.
- ``settings.py``: ``TextGenChatSettings``, the chat envs' settings (the user and turn settings added).
- ``vector.py``: ``TextGenChatVectorEnv``, conversations stepped together, user turns appended as tokens.
- ``template.py``: ``ChatTemplate``, a tokenizer's chat template seen token by token.
- ``labelling.py``: candidate next agent turns of conversations played through a chat env, for preference labels
  (``sample_turn_candidates``, ``label_conversations``).
- ``users.py``: the simulated users (``ScriptedUser``, ``LMUser``, ``ReplayUser``, ``make_user``).
"""

from text_gym.chat.env import TextGenChatEnv
from text_gym.chat.labelling import TurnCandidates, label_conversations, sample_turn_candidates
from text_gym.chat.settings import TextGenChatSettings
from text_gym.chat.template import ChatTemplate
from text_gym.chat.users import LMUser, ReplayUser, ScriptedUser, SimulatedUser, make_user
from text_gym.chat.vector import TextGenChatVectorEnv, is_chat_env

__all__ = [
    "ChatTemplate",
    "LMUser",
    "ReplayUser",
    "ScriptedUser",
    "SimulatedUser",
    "TextGenChatEnv",
    "TextGenChatSettings",
    "TextGenChatVectorEnv",
    "TurnCandidates",
    "is_chat_env",
    "label_conversations",
    "make_user",
    "sample_turn_candidates",
]
