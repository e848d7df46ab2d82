"""TextGenSettings: every constructor setting of the TextGen envs, validated once.

The env classes keep their keyword arguments; each builds one of these from them (``env.settings``) and builds
itself from it. ``env.rebuilt(num_envs=..., autoreset_mode=..., device=...)`` gives a vector env of the same
settings with only those three changed. Checks that need the tokenizer (``vocab_size`` against the EOS and pad
ids, prompts against ``max_prompt_tokens``, ``allowed_tokens`` against ``vocab_size``) run when the task is built
(``text_gym.envs.episode.TextGenTask``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from reward_models import RewardFn
from reward_models.common import check_positive_int
from text_gym.envs.masking import check_mask_options

RENDER_MODES = ("ansi", "human", "rgb_array")
TRUNCATION_MODES = ("error", "left")
VECTOR_FIELDS = ("num_envs", "device", "autoreset_mode")
"""The settings of the vector envs that the single envs do not take (theirs are 1, ``"cpu"``, ``DISABLED``)."""


def check_bool(name: str, value: object) -> bool:
    """``value`` as a ``bool``; raise ``TypeError`` unless it is ``True`` or ``False`` (NumPy's too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def refuse_vector_fields(env_name: str, options: dict[str, Any]) -> None:
    """Raise ``TypeError`` if ``options`` (a single env's keyword arguments) hold a setting of the vector envs."""
    given = [name for name in VECTOR_FIELDS if name in options]
    if given:
        raise TypeError(
            f"{env_name} got {given[0]}={options[given[0]]!r}, an argument of the vector env (gym.make_vec); "
            "a single env is one episode on the host"
        )


@dataclass(frozen=True)
class TextGenSettings:
    """The constructor settings of ``TextGen-v0``'s envs, as passed (tokenizer, reward model, prompts and mask model
    unresolved) and checked. The meaning of each is documented on ``text_gym.TextGenEnv`` (the vector fields on
    ``text_gym.TextGenVectorEnv``). ``stop_strings``, ``eos_token_ids`` and ``allowed_tokens`` are stored as
    tuples of str / int, ``device`` as a ``torch.device`` and ``autoreset_mode`` as an ``AutoresetMode``.

    Raises:
        ValueError, TypeError: at construction, naming the argument, the value and the valid range.
    """

    tokenizer: str | os.PathLike | Any | None = None
    reward_model: str | RewardFn | None = None
    prompts: Any = None
    max_new_tokens: int = 32
    max_prompt_tokens: int = 64
    render_mode: str | None = None
    text_info: bool = True
    chat_template: bool = False
    system_prompt: str | None = None
    stop_strings: Sequence[str] = ()
    eos_token_ids: Sequence[int] | None = None
    pad_token_id: int | None = None
    vocab_size: int | None = None
    truncation: str = "error"
    allowed_tokens: Sequence[int] | None = None
    mask_top_k: int | None = None
    mask_model: str | os.PathLike | Any | None = None
    num_envs: int = 1
    device: str | torch.device = "cpu"
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP

    def __post_init__(self) -> None:
        set_field = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen dataclass)
        set_field("num_envs", check_positive_int("num_envs", self.num_envs))
        set_field("max_new_tokens", check_positive_int("max_new_tokens", self.max_new_tokens))
        set_field("max_prompt_tokens", check_positive_int("max_prompt_tokens", self.max_prompt_tokens))
        if self.vocab_size is not None:
            set_field("vocab_size", check_positive_int("vocab_size", self.vocab_size))
        if self.render_mode is not None and self.render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be None, 'ansi', 'human' or 'rgb_array', got {self.render_mode!r}")
        set_field("text_info", check_bool("text_info", self.text_info))
        set_field("chat_template", check_bool("chat_template", self.chat_template))
        if self.truncation not in TRUNCATION_MODES:
            raise ValueError(f"truncation must be one of {TRUNCATION_MODES}, got {self.truncation!r}")
        stop_strings = tuple(self.stop_strings or ())
        if any(not isinstance(s, str) or not s for s in stop_strings):
            raise ValueError(f"stop_strings must be non-empty strings, got {self.stop_strings!r}")
        set_field("stop_strings", stop_strings)
        if self.eos_token_ids is not None:
            ids = tuple(self.eos_token_ids)
            if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 for i in ids):
                raise ValueError(f"eos_token_ids must be None or token ids (integers >= 0), got {ids!r}")
            set_field("eos_token_ids", tuple(int(i) for i in ids))
        set_field("allowed_tokens", check_mask_options(self.allowed_tokens, self.mask_top_k, self.mask_model))
        set_field("device", torch.device(self.device))
        try:
            set_field("autoreset_mode", AutoresetMode(self.autoreset_mode))
        except ValueError as error:
            raise ValueError(
                f"autoreset_mode must be one of {[m.value for m in AutoresetMode]}, got {self.autoreset_mode!r}"
            ) from error

    def with_vector(
        self,
        num_envs: int | None = None,
        autoreset_mode: str | AutoresetMode | None = None,
        device: str | torch.device | None = None,
    ) -> TextGenSettings:
        """These settings with the vector fields that are not ``None`` replaced (checked again)."""
        changes = {"num_envs": num_envs, "autoreset_mode": autoreset_mode, "device": device}
        return dataclasses.replace(self, **{name: value for name, value in changes.items() if value is not None})
