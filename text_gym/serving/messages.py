"""The OpenEnv wire types of a served text-gym env: the agent's message in, the conversation so far out.

Pydantic models on OpenEnv's ``Action`` / ``Observation`` / ``State`` bases (``openenv-core``, the ``openenv``
extra), so OpenEnv's server validates requests against them and publishes them under ``/schema``.
"""

from __future__ import annotations

from typing import Any

from reward_models.common.extras import require_extra

_types = require_extra("openenv.core.env_server.types", "openenv", "serving an env over OpenEnv")
_pydantic = require_extra("pydantic", "openenv", "serving an env over OpenEnv")


class MessageAction(_types.Action):
    """One agent turn as text (a chat env), or the whole completion (a single-turn env).

    The server tokenises ``message`` with the env's tokenizer, special-token text split into plain tokens (a client
    cannot write ``<|im_end|>`` or any other control token by typing it), then appends the end of the turn itself.
    """

    message: str = _pydantic.Field(..., description="the agent's message (plain text)")


class ConversationObservation(_types.Observation):
    """The conversation after ``reset`` or after a step, OpenEnv's ``done`` / ``reward`` beside it.

    ``reward`` is the sum of the env's rewards over the step's tokens (the turn's reward in a chat env, plus the
    conversation reward on the last turn); ``None`` after ``reset``.
    """

    env_id: str = _pydantic.Field(..., description="the registered env id being served")
    messages: list[dict[str, str]] = _pydantic.Field(
        default_factory=list,
        description="the conversation so far as {role, content} messages: system (if any), user, assistant, ...",
    )
    info: dict[str, Any] = _pydantic.Field(
        default_factory=dict,
        description=(
            "what the env reported on the step: turn, turn_reward, turn_end, tokens (the message's token count) and "
            "tokens_used (how many of them the env took before the turn ended); at the episode's end also "
            "stop_reason, score (the episode return) and gold (the task's gold metric, if any)"
        ),
    )


class ConversationState(_types.State):
    """OpenEnv's ``State`` (``episode_id``, ``step_count`` = agent messages so far) plus the env id and whether the
    episode has ended."""

    env_id: str = ""
    done: bool = False
