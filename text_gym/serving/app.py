"""The OpenEnv server of a registered env: OpenEnv's own FastAPI app (``create_app``) over
``TextGymEnvironment`` sessions."""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym

from reward_models import RewardFn
from reward_models.common.extras import require_extra
from text_gym.serving.environment import EpisodeError, TextGymEnvironment
from text_gym.serving.messages import ConversationObservation, MessageAction
from text_gym.tasks.suite import CHAT_TASKS, TASKS, gold_reward_spec

TASK_GOLD = "task"
"""``gold_reward_model`` value (the default) for the served task's own gold metric (``task_gold``)."""


def task_gold(env_id: str) -> str | None:
    """The gold metric spec of a suite or multi-turn task (``gold_reward_spec``); ``None`` for other env ids."""
    return gold_reward_spec(env_id) if env_id in TASKS or env_id in CHAT_TASKS else None


def make_openenv_app(
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    gold_reward_model: str | RewardFn | None = TASK_GOLD,
    max_sessions: int = 8,
):
    """OpenEnv's FastAPI app serving ``gym.make(env_id, **env_kwargs)``, one env per WebSocket session.

    Endpoints are OpenEnv's: ``/ws`` (the stateful sessions ``openenv.core.EnvClient`` uses: reset, step, state;
    errors come back as OpenEnv's ``{"type": "error", "data": {"message", "code"}}``), ``/reset``, ``/step`` and
    ``/state`` over HTTP (stateless in OpenEnv: each request gets a fresh env, so an HTTP ``/step`` has no episode
    and is answered 409), ``/schema``, ``/health``.

    Args:
        env_id: a registered text-gym env id (a chat env such as ``TextGenSupport-v0``, or a single-turn one).
        env_kwargs: keyword arguments of ``gym.make``.
        gold_reward_model: the gold metric reported at each episode's end (``info["gold"]``): a spec or a reward
            function, ``TASK_GOLD`` for the task's own (``task_gold``; none for envs that are not tasks), ``None``
            for none.
        max_sessions: concurrent WebSocket sessions, an integer >= 1; one more is refused with OpenEnv's
            ``CAPACITY_REACHED`` error.

    Raises:
        ValueError: ``max_sessions`` < 1, or the env cannot be served (``TextGymEnvironment``).
    """
    http_server = require_extra("openenv.core.env_server.http_server", "openenv", "serving an env over OpenEnv")
    responses = require_extra("fastapi.responses", "openenv", "serving an env over OpenEnv")
    if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
        raise ValueError(f"max_sessions must be an integer >= 1, got {max_sessions!r}")
    kwargs = dict(env_kwargs or {})
    gold = task_gold(env_id) if gold_reward_model == TASK_GOLD else gold_reward_model

    def make_environment() -> TextGymEnvironment:
        return TextGymEnvironment(lambda: gym.make(env_id, **kwargs), env_id, gold)

    make_environment.__name__ = f"TextGymEnvironment[{env_id}]"
    TextGymEnvironment(lambda: gym.make(env_id, **kwargs), env_id, gold).close()  # fail here, not per session
    app = http_server.create_app(
        make_environment, MessageAction, ConversationObservation, env_name=env_id, max_concurrent_envs=max_sessions
    )

    @app.exception_handler(EpisodeError)
    async def episode_error(_request, error: EpisodeError):
        return responses.JSONResponse(status_code=409, content={"detail": str(error)})

    @app.exception_handler(ValueError)
    async def bad_message(_request, error: ValueError):
        return responses.JSONResponse(status_code=422, content={"detail": str(error)})

    return app


class _ClosedSessionFilter(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" record for a WebSocket the client already closed.

    OpenEnv's ``/ws`` handler closes the socket again after a client's ``close`` message; the client is gone by then,
    so starlette raises ``WebSocketDisconnect`` (or uvicorn ``ClientDisconnected``) from that second close and
    uvicorn logs a traceback for a session that ended normally. Every other record passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if type(error).__name__ in ("WebSocketDisconnect", "ClientDisconnected"):
                return False
            error = error.__context__
        return True


def quiet_closed_sessions() -> None:
    """Install ``_ClosedSessionFilter`` on uvicorn's error logger (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _ClosedSessionFilter) for f in logger.filters):
        logger.addFilter(_ClosedSessionFilter())
