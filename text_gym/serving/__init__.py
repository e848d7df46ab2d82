"""Registered text-gym envs served over OpenEnv (the ``openenv`` extra): ``make_openenv_app`` builds OpenEnv's
server, ``TextGymEnvironment`` is one session's env, ``MessageAction`` / ``ConversationObservation`` /
``ConversationState`` are the wire types. ``text-gym serve`` runs it."""

from text_gym.serving.app import TASK_GOLD, make_openenv_app, quiet_closed_sessions, task_gold
from text_gym.serving.environment import EpisodeError, TextGymEnvironment
from text_gym.serving.messages import ConversationObservation, ConversationState, MessageAction

__all__ = [
    "TASK_GOLD",
    "ConversationObservation",
    "ConversationState",
    "EpisodeError",
    "MessageAction",
    "TextGymEnvironment",
    "make_openenv_app",
    "quiet_closed_sessions",
    "task_gold",
]
