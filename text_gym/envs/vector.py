"""TextGenVectorEnv: ``num_envs`` TextGen episodes stepped together, token buffers in torch tensors on a device."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from reward_models import RewardFn
from text_gym.envs.checks import check_can_step, check_prompt_indices, check_reset_options
from text_gym.envs.episode import TextGenTask
from text_gym.envs.masking import check_allowed
from text_gym.envs.rendering import Parts, render_episodes
from text_gym.envs.settings import RENDER_MODES, TextGenSettings

EPISODE_INFO_DTYPES = {
    "prompt": object,
    "completion": object,
    "score": np.float64,
    "prompt_index": np.int64,
    "num_tokens": np.int64,
    "stop_reason": object,
}
"""The episode info keys every ``reset``/``step`` info holds, and the dtype of their ``[B]`` arrays."""
EPISODE_KEYS = tuple(EPISODE_INFO_DTYPES)


class _StepFlags(NamedTuple):
    """What a step copies from the device in its one host sync."""

    any_out_of_range: bool
    """Some running sub-env's action is outside ``[0, vocab_size)``."""
    any_masked: bool
    """Some running sub-env's action is masked out by the vocabulary restriction."""
    finished: np.ndarray
    """bool ``[B]``: the running sub-envs whose action is an EOS id or fills ``max_new_tokens``."""

    @classmethod
    def sync(cls, bad: torch.Tensor, masked: torch.Tensor, finished: torch.Tensor) -> _StepFlags:
        """The flags of the device bool tensors ``bad``, ``masked`` and ``finished`` ``[B]``, in one copy."""
        host = torch.cat([bad.any().view(1), masked.any().view(1), finished]).cpu().numpy()
        return cls(bool(host[0]), bool(host[1]), host[2:].copy())


class TextGenVectorEnv(VectorEnv):
    """``num_envs`` copies of ``text_gym.TextGenEnv`` in one batch, without one Python env per copy.

    Takes the same keyword arguments as ``TextGenEnv`` plus:

    Args:
        num_envs: batch size ``B``.
        device: where the token buffers live (``"cpu"``, ``"cuda"``, ...).
        autoreset_mode: declared in ``metadata["autoreset_mode"]``:

            - ``NEXT_STEP`` (default, Gymnasium's default): the step after a sub-env's episode ends resets it,
              ignores its action, and returns the new prompt's observation with reward 0.
            - ``SAME_STEP``: an ended sub-env is reset within the same step; the returned observation is the new
              prompt's, and ``info["final_obs"]`` (masked by ``info["_final_obs"]``) holds the final one.
              ``info["final_info"]`` (mask ``info["_final_info"]``) holds the ended episodes' info keys, as
              Gymnasium's vector envs give it; they are also in ``info`` itself.
            - ``DISABLED``: an ended sub-env is frozen (action ignored, reward 0, terminated False) until
              ``reset(options={"reset_mask": mask})`` resets it. ``ended`` says which are frozen. This is what
              a KV-cached rollout wants: all episodes start together and the batch ends when all have ended.

    Settings: the arguments are checked once into ``settings`` (a frozen ``TextGenSettings``);
    ``rebuilt(num_envs=..., autoreset_mode=..., device=...)`` returns a new env of the same settings with those
    changed, sharing this env's task.

    A step that raises (a bad or masked action, a reward model that raises or returns junk) changes nothing: no
    token is written, no pending autoreset runs, no RNG advances; the same step can be retried.

    Seeding: ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i`` and draws its prompts exactly as a
    ``TextGenEnv`` reset with ``seed=s + i`` would, so the same seeds and actions give the same episodes.

    ``reset`` options: ``reset_mask`` (bool ``[B]``, which sub-envs to reset; default all) and ``prompt_index``
    (int or int ``[B]``, the prompts to use instead of random draws).

    The Gymnasium API (``reset``, ``step``) takes and returns NumPy arrays. Agents on a GPU use
    ``reset_tensors`` and ``step_tensors``, which take a token tensor ``[B]`` and return the live device
    buffers: the context never leaves the device. Per step there is one host sync of ``B + 2`` booleans (which
    episodes ended, whether any action was out of range or masked), the same check ``generate`` makes to stop; ended
    episodes' completion ids are then copied to the host, decoded and scored in **one** reward-model call. With
    ``stop_strings`` the last few tokens of every running episode are also copied and decoded each step.

    Vocabulary restriction (``allowed_tokens``, ``mask_top_k``, ``mask_model``, see ``text_gym.envs.masking``):
    ``action_masks`` and ``info["action_mask"]`` hold bool ``[B, V]`` for the returned observations, and a
    masked action of a running sub-env raises ``ValueError``. ``reset``/``step`` give ``info["action_mask"]`` as a
    NumPy array; ``reset_tensors``/``step_tensors`` give the env's device tensor (no host copy; do not modify it).

    Info: every ``reset``/``step`` info holds each key of ``EPISODE_KEYS`` as an array ``[B]`` with a boolean
    ``info["_<key>"]`` mask of the sub-envs it applies to (Gymnasium's vector info format): all keys for sub-envs
    whose episode ended on this step, ``prompt`` and ``prompt_index`` for sub-envs that were reset. Unmasked entries
    are ``""`` (strings) or 0; ``text_info=False`` leaves out the text keys ``prompt``, ``completion`` and
    ``stop_reason`` (for TorchRL's ``auto_register_info_dict``, which needs numeric arrays).
    With ``render_mode="rgb_array"``, ``render()`` returns one frame per sub-env (see ``text_gym.envs.rendering``).
    Per-prompt fields (see ``TextGenEnv``'s ``prompts``): ``reset`` and every step give each field as an object
    array ``[B]`` (masked: the reset sub-envs, then all), the values of the episode each sub-env played in that
    step (with ``SAME_STEP`` autoreset, the episode that ended, like the other episode keys); ``text_info=False``
    leaves them out.
    """

    info_dtypes: ClassVar[dict[str, type]] = EPISODE_INFO_DTYPES
    """The info keys every ``reset``/``step`` info holds and the dtypes of their ``[B]`` arrays."""
    settings_class: ClassVar[type[TextGenSettings]] = TextGenSettings
    """The class of ``settings``."""

    def __init__(
        self,
        num_envs: int = 1,
        tokenizer: str | os.PathLike | object | None = None,
        reward_model: str | RewardFn | None = None,
        prompts: str | os.PathLike | Sequence[str] | None = None,
        max_new_tokens: int = 32,
        max_prompt_tokens: int = 64,
        render_mode: str | None = None,
        text_info: bool = True,
        device: str | torch.device = "cpu",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        **task_options: Any,
    ) -> None:
        settings = TextGenSettings(
            tokenizer=tokenizer,
            reward_model=reward_model,
            prompts=prompts,
            max_new_tokens=max_new_tokens,
            max_prompt_tokens=max_prompt_tokens,
            render_mode=render_mode,
            text_info=text_info,
            num_envs=num_envs,
            device=device,
            autoreset_mode=autoreset_mode,
            **task_options,
        )
        self._setup(settings, source=None)

    @classmethod
    def from_settings(cls, settings: TextGenSettings, source: Any = None) -> TextGenVectorEnv:
        """The env of ``settings``. ``source``: an env whose settings differ from ``settings`` at most in
        ``num_envs``, ``autoreset_mode`` and ``device``; the new env shares its built task (no tokenizer, reward
        model, prompts or mask model is loaded again)."""
        if type(settings) is not cls.settings_class:
            raise TypeError(f"{cls.__name__} takes {cls.settings_class.__name__}, got {type(settings).__name__}")
        if source is not None:
            kept = dataclasses.replace(
                source.settings,
                num_envs=settings.num_envs,
                autoreset_mode=settings.autoreset_mode,
                device=settings.device,
            )
            differing = [
                f.name for f in dataclasses.fields(settings) if getattr(kept, f.name) != getattr(settings, f.name)
            ]
            if differing:
                raise ValueError(
                    "source must be an env of the same settings but num_envs, autoreset_mode and device; "
                    f"it differs in {differing}"
                )
        env = cls.__new__(cls)
        env._setup(settings, source)
        return env

    def rebuilt(
        self,
        *,
        num_envs: int | None = None,
        autoreset_mode: str | AutoresetMode | None = None,
        device: str | torch.device | None = None,
    ) -> TextGenVectorEnv:
        """A new env of this env's settings (``settings``) with the given ones changed (``None``: keep this env's);
        every other setting is kept, and the new env shares this env's task (tokenizer, reward model, prompts,
        vocabulary mask; a chat env's user too). The new env starts unreset."""
        return self.from_settings(self.settings.with_vector(num_envs, autoreset_mode, device), source=self)

    def _setup(self, settings: TextGenSettings, source: Any, tokenizer: Any = None) -> None:
        """Build the env from checked ``settings``: the task (``source``'s, when given; else built with
        ``tokenizer``, ``settings.tokenizer`` loaded, if given) and the token buffers."""
        self.settings = settings
        self.metadata = {
            "autoreset_mode": settings.autoreset_mode,
            "render_modes": list(RENDER_MODES),
            "render_fps": 4,
        }
        self.num_envs = settings.num_envs
        self.device = settings.device
        self.task = task = TextGenTask(settings, tokenizer) if source is None else source.task
        self.single_observation_space = task.observation_space
        self.single_action_space = task.action_space
        self.observation_space = batch_space(task.observation_space, self.num_envs)
        self.action_space = batch_space(task.action_space, self.num_envs)

        P, B = task.max_prompt_tokens, self.num_envs
        self._positions = torch.arange(P, device=self.device)
        self._eos = torch.as_tensor(task.eos_token_ids, device=self.device)
        self.input_ids = torch.full((B, task.seq_len), task.pad_token_id, dtype=torch.long, device=self.device)
        self.attention_mask = torch.zeros((B, task.seq_len), dtype=torch.long, device=self.device)
        self.num_tokens = torch.zeros(B, dtype=torch.long, device=self.device)
        self.prompt_index = np.full(B, -1, dtype=np.int64)
        self._ended = np.ones(B, dtype=bool)  # host copy; exact, because step() syncs the ended mask anyway
        self._ended_dev = torch.ones(B, dtype=torch.bool, device=self.device)
        self._rngs: list[np.random.Generator | None] = [None] * B
        self._started = False
        self._action_mask: torch.Tensor | None = None  # bool [B, V] on device, with a vocabulary restriction

    @property
    def render_mode(self) -> str | None:
        return self.settings.render_mode

    @property
    def text_info(self) -> bool:
        return self.settings.text_info

    @property
    def autoreset_mode(self) -> AutoresetMode:
        """The autoreset mode, as Gymnasium's own vector envs expose it (also ``metadata["autoreset_mode"]``)."""
        return self.metadata["autoreset_mode"]

    @property
    def ended(self) -> np.ndarray:
        """bool ``[B]``: sub-envs whose episode has ended and not been reset yet."""
        return self._ended.copy()

    # ----------------------------------------------------------------- reset
    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        valid = f"seed must be an int, None or a list of {self.num_envs} seeds"
        if not isinstance(seed, Sequence) or isinstance(seed, str):
            raise TypeError(f"{valid}, got {type(seed).__name__} {seed!r}")
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"{valid}, got {len(seeds)} seeds")
        for seed_i in seeds:
            if seed_i is not None and (isinstance(seed_i, bool) or not isinstance(seed_i, (int, np.integer))):
                raise TypeError(f"{valid} (ints or None), got {type(seed_i).__name__} {seed_i!r} in the list")
        return seeds

    def _reset_rows(self, rows: np.ndarray, seeds: list[int | None], prompt_index: np.ndarray | None) -> None:
        task = self.task
        indices = np.empty(len(rows), dtype=np.int64)
        for k, row in enumerate(rows):
            if seeds[row] is not None or self._rngs[row] is None:
                self._rngs[row], _ = seeding.np_random(seeds[row])
            indices[k] = self._rngs[row].integers(len(task.prompts)) if prompt_index is None else prompt_index[row]
        rows_dev = torch.as_tensor(rows, device=self.device)
        P = task.max_prompt_tokens
        # Prompt tokens come from the task per reset (procedural prompts are tokenized on first use).
        prompt_ids = torch.as_tensor(task.prompt_ids[indices], device=self.device)
        lengths = torch.as_tensor(task.prompt_lengths[indices], device=self.device)
        # index_select/index_copy_/gather/scatter_ rather than advanced indexing (`x[rows]`): on CPU the latter
        # costs milliseconds per call, the former microseconds.
        self.input_ids[:, :P].index_copy_(0, rows_dev, prompt_ids)
        self.input_ids[:, P:].index_fill_(0, rows_dev, task.pad_token_id)
        self.attention_mask[:, :P].index_copy_(0, rows_dev, (self._positions >= P - lengths[:, None]).long())
        self.attention_mask[:, P:].index_fill_(0, rows_dev, 0)
        self.num_tokens.index_fill_(0, rows_dev, 0)
        self._ended_dev.index_fill_(0, rows_dev, False)
        self._ended[rows] = False
        self.prompt_index[rows] = indices

    def reset_tensors(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Like ``reset``, but the observation is the live device buffers ``{input_ids, attention_mask}`` and
        ``info["action_mask"]`` (with a vocabulary restriction) the env's bool ``[B, V]`` device tensor."""
        options = check_reset_options(options, ("reset_mask", "prompt_index"))
        B = self.num_envs
        mask = np.ones(B, dtype=bool) if options.get("reset_mask") is None else np.asarray(options["reset_mask"])
        if mask.shape != (B,) or mask.dtype != bool:
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({B},), got {mask!r}")
        prompt_index = check_prompt_indices(options.get("prompt_index"), len(self.task.prompts), B)
        self._reset_rows(np.flatnonzero(mask), self._seeds(seed), prompt_index)
        self._started = True
        info = self._empty_info()
        self._add_reset_info(info, np.flatnonzero(mask))
        self._update_action_mask(info)
        return self._obs(), info

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        obs, info = self.reset_tensors(seed=seed, options=options)
        self._render_human()
        return self._to_numpy(obs), self._host_info(info)

    # ------------------------------------------------------------------ step
    def _as_action_tensor(self, actions: object) -> torch.Tensor:
        if isinstance(actions, torch.Tensor):
            tensor = actions
        else:
            array = np.asarray(actions)
            if array.dtype == object or not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
                raise TypeError(
                    f"actions must be integer token ids in [0, {self.task.vocab_size}), "
                    f"got an array of dtype {array.dtype}"
                )
            tensor = torch.from_numpy(np.ascontiguousarray(array))
        if tensor.dtype == torch.bool or tensor.is_floating_point() or tensor.is_complex():
            raise TypeError(
                f"actions must be integer token ids in [0, {self.task.vocab_size}), got dtype {tensor.dtype}"
            )
        if tensor.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {tuple(tensor.shape)}")
        return tensor.to(self.device, torch.long, non_blocking=True)

    def step_tensors(
        self, actions: torch.Tensor | np.ndarray
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Like ``step``, but observations, rewards (float32), terminated and truncated are device tensors, and
        so is ``info["action_mask"]`` (bool ``[B, V]``, with a vocabulary restriction): it is not copied to the host.

        The observation tensors are the env's live buffers: clone them to keep a copy past the next step. The action
        mask is the one the env checks the next actions against: clone it before modifying it.
        """
        check_can_step(self._started, single=False)
        task, B = self.task, self.num_envs
        actions = self._as_action_tensor(actions)
        # Everything that can raise (action checks, stop strings, the reward model) runs before any state changes,
        # so a step that raises changes nothing. The sub-envs that take this step's action are the running ones:
        # an ended one is reset (NEXT_STEP) or frozen (DISABLED) instead.
        active_np = ~self._ended
        active = ~self._ended_dev
        P, N = task.max_prompt_tokens, task.max_new_tokens
        bad = active & ((actions < 0) | (actions >= task.vocab_size))
        masked = (
            torch.zeros_like(bad)
            if self._action_mask is None
            else active & ~self._action_mask.gather(1, actions.clamp(0, task.vocab_size - 1).unsqueeze(1)).squeeze(1)
        )
        finished = active & (torch.isin(actions, self._eos) | (self.num_tokens + 1 >= N))
        flags = _StepFlags.sync(bad, masked, finished)
        if flags.any_out_of_range:
            value = actions[bad][0].item()
            raise ValueError(f"actions must be token ids in [0, {task.vocab_size}), got {value}")
        if flags.any_masked:
            row = int(masked.nonzero()[0, 0])
            check_allowed(int(actions[row]), self._action_mask[row].cpu().numpy())
        finished_np = flags.finished

        checked = np.flatnonzero(finished_np | (active_np if task.stop_strings else False))
        completion_ids = dict(zip(checked.tolist(), self._next_completion_ids(checked, actions), strict=True))
        if task.stop_strings:
            for row in checked:
                finished_np[row] = finished_np[row] or task.hits_stop_string(completion_ids[row])
        info = self._empty_info()
        rewards = np.zeros(B, dtype=np.float32)
        ended_rows = np.flatnonzero(finished_np)
        if len(ended_rows):
            rewards[ended_rows] = self._finish(ended_rows, [completion_ids[row] for row in ended_rows], info)

        # Nothing raised: apply the step.
        self._autoreset_ended(info)
        position = (P + self.num_tokens.clamp(max=N - 1)).unsqueeze(1)
        current_ids = self.input_ids.gather(1, position).squeeze(1)
        self.input_ids.scatter_(1, position, torch.where(active, actions, current_ids).unsqueeze(1))
        current_mask = self.attention_mask.gather(1, position).squeeze(1)
        self.attention_mask.scatter_(1, position, (current_mask | active.long()).unsqueeze(1))
        self.num_tokens += active.long()
        finished_dev = torch.as_tensor(finished_np, device=self.device)
        self._ended |= finished_np
        self._ended_dev |= finished_dev

        self._add_field_info(info, np.arange(B))
        self._autoreset_finished(info, finished_np)
        self._render_human()
        self._update_action_mask(info)
        reward_dev = torch.as_tensor(rewards, device=self.device)
        truncated = torch.zeros(B, dtype=torch.bool, device=self.device)
        return self._obs(), reward_dev, finished_dev, truncated, info

    def _obs(self) -> dict[str, torch.Tensor]:
        """The live observation buffers, ``[B, L]`` each."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}

    def _autoreset_ended(self, info: dict[str, Any]) -> None:
        """``NEXT_STEP``: reset the sub-envs whose episode ended on an earlier step (this step ignores their
        actions) and add their reset info. Call after every check of the step passed, before its tokens are written."""
        if self.autoreset_mode == AutoresetMode.NEXT_STEP and self._ended.any():
            rows = np.flatnonzero(self._ended)
            self._reset_rows(rows, [None] * self.num_envs, None)
            self._add_reset_info(info, rows)

    def _autoreset_finished(self, info: dict[str, Any], finished: np.ndarray) -> None:
        """``SAME_STEP``: put the final observation and episode info of the sub-envs whose episode ended on this step
        (bool ``[B]`` ``finished``) in ``info["final_obs"]`` / ``info["final_info"]`` (masked by ``_final_obs`` /
        ``_final_info``, Gymnasium's format), then reset them. Call once the step is applied."""
        if self.autoreset_mode != AutoresetMode.SAME_STEP or not finished.any():
            return
        rows = np.flatnonzero(finished)
        final = self._to_numpy(self._obs())
        final_obs = np.empty(self.num_envs, dtype=object)
        for row in rows:
            final_obs[row] = {key: value[row] for key, value in final.items()}
        info["final_obs"], info["_final_obs"] = final_obs, finished.copy()
        episode = [name for key in self.info_dtypes for name in (key, "_" + key) if name in info]
        info["final_info"], info["_final_info"] = {name: info[name].copy() for name in episode}, finished.copy()
        self._reset_rows(rows, [None] * self.num_envs, None)

    def _render_human(self) -> None:
        """Print every sub-env after ``reset`` and every step in ``"human"`` mode."""
        if self.render_mode == "human":
            self.render()

    def _update_action_mask(self, info: dict[str, Any]) -> None:
        mask = self.task.vocabulary_mask
        if mask is not None:
            self._action_mask = info["action_mask"] = mask(self.input_ids, self.attention_mask)
            info["_action_mask"] = np.ones(self.num_envs, dtype=bool)

    def action_masks(self) -> np.ndarray:
        """bool ``[B, V]``: the actions allowed in the current observations (all True without a restriction)."""
        if self._action_mask is None:
            return np.ones((self.num_envs, self.task.vocab_size), dtype=bool)
        return self._action_mask.cpu().numpy()

    @cached_property
    def _info_template(self) -> dict[str, np.ndarray]:
        info: dict[str, np.ndarray] = {}
        for key, dtype in self.info_dtypes.items():
            if dtype is object and not self.text_info:
                continue
            info[key] = np.full(self.num_envs, "", dtype=object) if dtype is object else np.zeros(self.num_envs, dtype)
            info["_" + key] = np.zeros(self.num_envs, dtype=bool)
        return info

    def _empty_info(self) -> dict[str, Any]:
        """Every ``EPISODE_KEYS`` array ``[B]`` (``""`` or 0) with its all-False ``_key`` mask, copied from a template
        built once (cheaper than building the object arrays every step)."""
        return {key: value.copy() for key, value in self._info_template.items()}

    @staticmethod
    def _set_info(info: dict[str, Any], key: str, rows: np.ndarray, values: Sequence) -> None:
        """Set ``info[key][rows] = values`` and mark ``rows`` in ``info["_" + key]`` (if ``key`` is kept)."""
        if key in info:
            info[key][rows] = values
            info["_" + key][rows] = True

    def _add_reset_info(self, info: dict[str, Any], rows: np.ndarray) -> None:
        self._set_info(info, "prompt", rows, [self.task.scored_prompts[i] for i in self.prompt_index[rows]])
        self._set_info(info, "prompt_index", rows, self.prompt_index[rows])
        self._add_field_info(info, rows)

    def _add_field_info(self, info: dict[str, Any], rows: np.ndarray) -> None:
        """The per-prompt fields of the episodes in ``rows`` (object arrays ``[B]``, masked; none without
        ``text_info``)."""
        if not self.text_info:
            return
        for name, values in self.task.prompt_fields(self.prompt_index[rows]).items():
            if name not in info:
                info[name], info["_" + name] = np.full(self.num_envs, None, dtype=object), np.zeros(self.num_envs, bool)
            column = np.empty(len(rows), dtype=object)
            for k, value in enumerate(values):  # element by element: a value may itself be a list
                column[k] = value
            self._set_info(info, name, rows, column)

    def _next_completion_ids(self, rows: np.ndarray, actions: torch.Tensor) -> list[np.ndarray]:
        """Completion ids of the sub-envs in ``rows`` with this step's ``actions`` appended (the env unchanged)."""
        if not len(rows):
            return []
        rows_dev = torch.as_tensor(rows, device=self.device)
        ids = self.input_ids[:, self.task.max_prompt_tokens :].index_select(0, rows_dev).cpu().numpy()
        counts = self.num_tokens.index_select(0, rows_dev).cpu().numpy()
        new = actions.index_select(0, rows_dev).cpu().numpy()
        return [np.append(ids[k, : counts[k]], new[k]) for k in range(len(rows))]

    def _finish(self, rows: np.ndarray, completion_ids: list[np.ndarray], info: dict[str, Any]) -> np.ndarray:
        """Decode and score the episodes in ``rows`` with one reward-model call; add their episode info."""
        task = self.task
        completions = [task.decode(c) for c in completion_ids]
        scores = task.score(self.prompt_index[rows], completions)
        reasons = [task.stop_reason(c) for c in completion_ids]
        self._set_info(info, "prompt", rows, [task.scored_prompts[i] for i in self.prompt_index[rows]])
        self._set_info(info, "completion", rows, completions)
        self._set_info(info, "score", rows, scores)
        self._set_info(info, "prompt_index", rows, self.prompt_index[rows])
        self._set_info(info, "num_tokens", rows, [len(c) for c in completion_ids])
        self._set_info(info, "stop_reason", rows, reasons)
        return scores

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.step_tensors(actions)
        return (
            self._to_numpy(obs),
            rewards.cpu().numpy(),
            terminated.cpu().numpy(),
            truncated.cpu().numpy(),
            self._host_info(info),
        )

    @staticmethod
    def _to_numpy(obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {key: value.cpu().numpy().copy() for key, value in obs.items()}

    @staticmethod
    def _host_info(info: dict[str, Any]) -> dict[str, Any]:
        """``info`` of the NumPy API: the action mask, a device tensor in the tensor API, as a host array."""
        if "action_mask" in info:
            info["action_mask"] = info["action_mask"].cpu().numpy()
        return info

    # ---------------------------------------------------------------- render
    def _parts(self) -> list[Parts]:
        """(prompt, completion so far, ``"n/N tokens"``) of every sub-env."""
        task = self.task
        ids = self.input_ids[:, task.max_prompt_tokens :].cpu().numpy()
        counts = self.num_tokens.cpu().numpy()
        parts = []
        for row in range(self.num_envs):
            if self.prompt_index[row] < 0:
                parts.append(("(no episode: call reset())", "", ""))
                continue
            completion = task.decode(ids[row, : counts[row]])
            status = f"{counts[row]}/{task.max_new_tokens} tokens"
            parts.append((task.scored_prompts[self.prompt_index[row]], completion, status))
        return parts

    def render(self) -> tuple[str, ...] | tuple[np.ndarray, ...] | None:
        rendered = render_episodes(self.render_mode, self._parts(), numbered=True)
        return None if rendered is None else tuple(rendered)
