"""Turn what a user passes as ``env`` into the vector env the rollout collector drives."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from text_gym import TextGenVectorEnv
from text_gym.envs import SingleTextGenEnv


def make_vector_env(
    env: str | gym.Env | TextGenVectorEnv,
    n_envs: int,
    vocab_size: int,
    device: str,
    env_kwargs: dict[str, Any] | None = None,
) -> TextGenVectorEnv:
    """A ``TextGenVectorEnv`` (or ``TextGenChatVectorEnv``) in ``DISABLED`` autoreset mode whose action space fits
    the policy.

    Args:
        env: an env id (``"TextGen-v0"``, ``"TextGenChat-v0"``...: built with ``n_envs`` sub-envs, ``vocab_size``
            actions, on ``device``), a ``TextGenVectorEnv`` or ``TextGenChatVectorEnv`` (used as is in ``DISABLED``
            autoreset mode; in another mode, e.g. from ``gym.make_vec``, a copy with the same task, size and device
            is built in ``DISABLED`` mode, since all episodes of a rollout start together), or a ``TextGenEnv`` /
            ``TextGenChatEnv`` (possibly wrapped: rebuilt with ``n_envs`` sub-envs on ``device``). Copies come from
            ``env.rebuilt``, so every other setting is kept (vocabulary restriction, chat user, render mode...).
        vocab_size: the policy's LM-head size; the env's action space may be smaller, never larger.
        env_kwargs: keyword arguments for the env constructor when ``env`` is an id.
    """
    env_kwargs = dict(env_kwargs or {})
    if isinstance(env, str):
        env_kwargs.setdefault("vocab_size", vocab_size)
        env = gym.make_vec(
            env,
            num_envs=n_envs,
            vectorization_mode="vector_entry_point",
            device=device,
            autoreset_mode=AutoresetMode.DISABLED,
            **env_kwargs,
        )
    elif env_kwargs:
        raise ValueError("env_kwargs can only be given with an env id")
    elif isinstance(env, gym.Env) and isinstance(env.unwrapped, SingleTextGenEnv):
        wrappers = _user_wrappers(env)
        if wrappers:
            warnings.warn(
                f"env is wrapped ({', '.join(wrappers)}); the agents run its unwrapped env's settings with "
                f"{n_envs} sub-envs, without the wrappers",
                UserWarning,
                stacklevel=3,
            )
        env = env.unwrapped.rebuilt(num_envs=n_envs, autoreset_mode=AutoresetMode.DISABLED, device=device)
    elif isinstance(env, TextGenVectorEnv) and env.autoreset_mode != AutoresetMode.DISABLED:
        # gym.make_vec's default NEXT_STEP mode: all episodes of a rollout start together.
        env = env.rebuilt(autoreset_mode=AutoresetMode.DISABLED)
    if not isinstance(env, TextGenVectorEnv):
        raise TypeError(
            "env must be an env id such as 'TextGen-v0', a TextGenEnv, a TextGenChatEnv or a TextGen vector env, "
            f"got {type(env).__name__}"
        )
    if not env.text_info:
        raise ValueError(
            "the agents log each episode's prompt and completion: build the TextGenVectorEnv with text_info=True "
            "(the default), got text_info=False"
        )
    if env.single_action_space.n > vocab_size:
        raise ValueError(
            f"the env's action space has {env.single_action_space.n} actions but the policy's LM head "
            f"has {vocab_size}; build the env with vocab_size={vocab_size}"
        )
    return env


def _user_wrappers(env: gym.Env) -> list[str]:
    """The names of ``env``'s wrappers other than those ``gym.make`` adds by itself."""
    names = []
    while isinstance(env, gym.Wrapper):
        if not isinstance(env, (gym.wrappers.OrderEnforcing, gym.wrappers.PassiveEnvChecker)):
            names.append(type(env).__name__)
        env = env.env
    return names
