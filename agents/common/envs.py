"""Turn what a user passes as ``env`` into the vector env the rollout collector drives."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from text_gym import TextGenChatEnv, TextGenChatVectorEnv, TextGenEnv, TextGenVectorEnv


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
            ``TextGenChatEnv`` (possibly wrapped: its settings are reused for ``n_envs`` sub-envs).
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
    elif isinstance(env, gym.Env) and isinstance(env.unwrapped, (TextGenEnv, TextGenChatEnv)):
        if env_kwargs:
            raise ValueError("env_kwargs can only be given with an env id")
        single = env.unwrapped
        source = single.vector_env if isinstance(single, TextGenChatEnv) else single  # chat: user and turn settings
        env = _disabled_autoreset_copy(source, n_envs, device)
    elif isinstance(env, TextGenVectorEnv) and env.metadata["autoreset_mode"] != AutoresetMode.DISABLED:
        if env_kwargs:
            raise ValueError("env_kwargs can only be given with an env id")
        # gym.make_vec's default NEXT_STEP mode: the same task and size, rebuilt in DISABLED mode.
        env = _disabled_autoreset_copy(env, env.num_envs, str(env.device))
    elif env_kwargs:
        raise ValueError("env_kwargs can only be given with an env id")
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


def _disabled_autoreset_copy(
    env: TextGenEnv | TextGenVectorEnv, num_envs: int, device: str
) -> TextGenVectorEnv | TextGenChatVectorEnv:
    """An env of ``env``'s settings (its task; a chat env's user and turn settings too) with ``num_envs`` sub-envs
    in ``DISABLED`` autoreset mode."""
    task = env.task
    # The same task: prompts that were cut to max_prompt_tokens were cut on the left, the rest fit.
    common = {
        "device": device,
        "autoreset_mode": AutoresetMode.DISABLED,
        "system_prompt": task.system_prompt,
        "eos_token_ids": task.eos_token_ids.tolist(),
        "pad_token_id": task.pad_token_id,
        "vocab_size": task.vocab_size,
        "truncation": "left",
    }
    if isinstance(env, TextGenChatVectorEnv):
        return TextGenChatVectorEnv(
            num_envs,
            task.tokenizer,
            task.reward_model,
            task.prompt_source,
            user=env.user,
            max_turns=env.max_turns,
            max_turn_tokens=env.max_turn_tokens,
            max_new_tokens=task.max_new_tokens,
            max_prompt_tokens=task.max_prompt_tokens,
            conversation_reward=env.conversation_reward,
            **common,
        )
    return TextGenVectorEnv(
        num_envs,
        task.tokenizer,
        task.reward_model,
        task.prompt_source,
        task.max_new_tokens,
        task.max_prompt_tokens,
        chat_template=task.chat_template,
        stop_strings=task.stop_strings,
        **common,
    )
