"""SB3VecEnv: a ``text_gym.TextGenVectorEnv`` behind stable-baselines3's ``VecEnv`` API, with SB3's own
``VecMonitor`` keeping the episode statistics.

SB3 does not take Gymnasium vector envs; the adapter (``SB3VecEnv(...).venv``) runs the native vector env in
``SAME_STEP`` autoreset mode, which is SB3's convention: a sub-env whose episode ends is reset in the same step,
``dones[i]`` is True, the returned observation is the new prompt's, and ``infos[i]["terminal_observation"]`` is the
final one. ``infos[i]`` holds, on every step, the env info the vector env marks for sub-env ``i`` on that step:
the episode's per-prompt fields (with ``text_info``), on a chat env ``prompt``, ``prompt_index``, ``num_tokens``,
``num_turns`` and, on a step that ends an agent turn, the turn keys (``turn``, ``turn_reward``, ``turn_text``,
``turn_end``); at a finished episode its episode info (``prompt``, ``completion``, ``score``, ``prompt_index``,
``num_tokens``, ``stop_reason``; the chat envs add ``conversation``). Those of a finished episode describe that
episode, not the one the reset started. ``reset_infos[i]`` holds ``prompt``, ``prompt_index`` and the fields of the
episode drawn. With a vocabulary restriction every ``infos[i]["action_mask"]`` is set, and ``action_masks`` serves
``MaskablePPO``.

``SB3VecEnv`` is stock ``VecMonitor`` over that adapter: it adds ``infos[i]["episode"] = {"r": return, "l": steps,
"t": seconds}`` (``r``: the sum of the episode's step rewards, which is its score, on a chat env the sum of its
per-turn rewards; ``l``: the env steps, i.e. the tokens the agent wrote, not a chat env's user turns), so
``rollout/ep_rew_mean`` / ``ep_len_mean``, ``ep_info_buffer`` and ``evaluate_policy`` behave as with any monitored
SB3 env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from text_gym import TextGenVectorEnv


class SB3VecEnv(VecMonitor):
    """SB3 ``VecEnv`` over a ``TextGenVectorEnv``: SB3's ``VecMonitor`` (episode statistics) over the adapter
    that steps the vector env as one batch (``self.venv``; ``self.env`` is the ``TextGenVectorEnv``).

    Args:
        env: an env id (``"TextGen-v0"``, ``"TextGenChar-v0"``), built with ``gym.make_vec(env, num_envs,
            autoreset_mode=AutoresetMode.SAME_STEP, **env_kwargs)``, or a ``TextGenVectorEnv`` created with
            ``autoreset_mode="SameStep"``.
        num_envs: number of sub-envs when ``env`` is an id.
        env_kwargs: keyword arguments of the env (``tokenizer``, ``reward_model``, ``vocab_size``, ...).

    ``reset`` uses the seeds given to ``seed`` (sub-env ``i`` gets ``seed + i``) and the ``prompt_index``
    given to ``set_options``, as SB3's ``DummyVecEnv`` does.
    """

    def __init__(self, env: str | TextGenVectorEnv = "TextGen-v0", num_envs: int = 1, **env_kwargs: Any) -> None:
        super().__init__(_TextGenVecEnvAdapter(env, num_envs, **env_kwargs))

    def reset(self) -> dict[str, np.ndarray]:
        obs = super().reset()
        self.reset_infos = self.venv.reset_infos  # the prompts drawn (VecEnvWrapper keeps its own, empty, list)
        return obs


class _TextGenVecEnvAdapter(VecEnv):
    """The ``VecEnv`` methods over a ``TextGenVectorEnv`` in ``SAME_STEP`` mode (arguments as ``SB3VecEnv``'s)."""

    def __init__(self, env: str | TextGenVectorEnv, num_envs: int, **env_kwargs: Any) -> None:
        if isinstance(env, str):
            env = gym.make_vec(
                env,
                num_envs=num_envs,
                vectorization_mode="vector_entry_point",
                autoreset_mode=AutoresetMode.SAME_STEP,
                **env_kwargs,
            )
        elif env_kwargs:
            raise ValueError("env_kwargs can only be given with an env id")
        if not isinstance(env, TextGenVectorEnv):
            raise TypeError(f"env must be an env id or a TextGenVectorEnv, got {type(env).__name__}")
        if env.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3VecEnv needs a TextGenVectorEnv with autoreset_mode='SameStep' (SB3's convention),"
                f" got autoreset_mode={env.metadata['autoreset_mode'].value!r}"
            )
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._info_keys = (*env.info_dtypes, *env.task.field_names, "action_mask")
        """The vector env's info keys passed on per sub-env (not ``final_obs`` / ``final_info``)."""

    def reset(self) -> dict[str, np.ndarray]:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = {}
        indices = [o.get("prompt_index") for o in self._options]
        unknown = {key for o in self._options for key in o} - {"prompt_index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: 'prompt_index'")
        if any(i is not None for i in indices):
            if any(i is None for i in indices):
                raise ValueError("set_options: give prompt_index for every sub-env or for none")
            options["prompt_index"] = np.asarray(indices, dtype=np.int64)
        obs, info = self.env.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [self._row_info(info, i, self._info_keys) for i in range(self.num_envs)]
        return obs

    @staticmethod
    def _row_info(info: dict[str, Any], row: int, keys: Sequence[str]) -> dict[str, Any]:
        """Sub-env ``row``'s entries of a Gymnasium vector ``info`` (those its ``_key`` mask marks)."""
        return {key: info[key][row] for key in keys if key in info and info["_" + key][row]}

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        infos = [self._row_info(info, i, self._info_keys) for i in range(self.num_envs)]
        for row in np.flatnonzero(dones):
            row_info = infos[row]
            row_info["terminal_observation"] = info["final_obs"][row]
            row_info["TimeLimit.truncated"] = bool(truncated[row] and not terminated[row])
        return obs, rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """bool ``[B, V]``: the allowed actions of the current observations (all True without a restriction)."""
        return self.env.action_masks()

    def close(self) -> None:
        self.env.close()

    def render(self, mode: str | None = None) -> None:
        """Print (``render_mode="human"``) the sub-envs' texts; use ``env.env.render()`` for the ANSI strings."""
        self.env.render()

    def get_images(self) -> Sequence[None]:
        return [None] * self.num_envs

    def _indices(self, indices: int | Sequence[int] | None) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def get_attr(self, attr_name: str, indices: int | Sequence[int] | None = None) -> list[Any]:
        """The vector env's attribute, once per requested sub-env (the sub-envs share one task)."""
        value = getattr(self.env, attr_name)
        return [value] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: int | Sequence[int] | None = None) -> None:
        raise AttributeError(f"SB3VecEnv cannot set {attr_name!r} on single sub-envs: they are one batched env")

    def env_method(
        self, method_name: str, *method_args: Any, indices: int | Sequence[int] | None = None, **method_kwargs: Any
    ) -> list[Any]:
        """Only ``"action_masks"`` (per sub-env rows of ``action_masks``) is a per-sub-env method here."""
        if method_name != "action_masks":
            raise AttributeError(f"SB3VecEnv supports env_method('action_masks') only, got {method_name!r}")
        masks = self.action_masks()
        return [masks[i] for i in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: int | Sequence[int] | None = None) -> list[bool]:
        """False for every wrapper: the sub-envs are rows of one vector env, not wrapped Gymnasium envs (the
        episode statistics come from the ``VecMonitor`` that ``SB3VecEnv`` is)."""
        return [False] * len(self._indices(indices))
