"""Turn what a user passes as ``env`` into the vector env the rollout collector drives."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from text_gym import TextGenEnv, TextGenVectorEnv


def make_vector_env(
    env: str | gym.Env | TextGenVectorEnv,
    n_envs: int,
    vocab_size: int,
    device: str,
    env_kwargs: dict[str, Any] | None = None,
) -> TextGenVectorEnv:
    """A ``TextGenVectorEnv`` in ``DISABLED`` autoreset mode whose action space fits the policy.

    Args:
        env: an env id (``"TextGen-v0"``: built with ``n_envs`` sub-envs, ``vocab_size`` actions, on ``device``),
            a ``TextGenVectorEnv`` (used as is in ``DISABLED`` autoreset mode; in another mode, e.g. from
            ``gym.make_vec``, a copy with the same task, size and device is built in ``DISABLED`` mode, since all
            episodes of a rollout start together), or a ``TextGenEnv`` (possibly wrapped: its task settings are
            reused for ``n_envs`` sub-envs).
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
    elif isinstance(env, gym.Env) and isinstance(env.unwrapped, TextGenEnv):
        if env_kwargs:
            raise ValueError("env_kwargs can only be given with an env id")
        env = _disabled_autoreset_copy(env.unwrapped.task, n_envs, device)
    elif isinstance(env, TextGenVectorEnv) and env.metadata["autoreset_mode"] != AutoresetMode.DISABLED:
        if env_kwargs:
            raise ValueError("env_kwargs can only be given with an env id")
        # gym.make_vec's default NEXT_STEP mode: the same task and size, rebuilt in DISABLED mode.
        env = _disabled_autoreset_copy(env.task, env.num_envs, str(env.device))
    elif env_kwargs:
        raise ValueError("env_kwargs can only be given with an env id")
    if not isinstance(env, TextGenVectorEnv):
        raise TypeError(
            f"env must be an env id such as 'TextGen-v0', a TextGenEnv or a TextGenVectorEnv, got {type(env).__name__}"
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


def _disabled_autoreset_copy(task, num_envs: int, device: str) -> TextGenVectorEnv:
    """A ``TextGenVectorEnv`` of ``task``'s settings with ``num_envs`` sub-envs in ``DISABLED`` autoreset mode."""
    # The same task: prompts that were cut to max_prompt_tokens were cut on the left, the rest fit.
    return TextGenVectorEnv(
        num_envs,
        task.tokenizer,
        task.reward_model,
        task.prompt_source,
        task.max_new_tokens,
        task.max_prompt_tokens,
        device=device,
        autoreset_mode=AutoresetMode.DISABLED,
        chat_template=task.chat_template,
        system_prompt=task.system_prompt,
        stop_strings=task.stop_strings,
        eos_token_ids=task.eos_token_ids.tolist(),
        pad_token_id=task.pad_token_id,
        vocab_size=task.vocab_size,
        truncation="left",
    )
