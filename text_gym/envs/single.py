"""SingleTextGenEnv: what the single TextGen envs (``TextGenEnv``, ``TextGenChatEnv``) share: their settings,
the prompt draw of ``reset``, the step-before-reset check, ``render`` and ``rebuilt``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from text_gym.envs.checks import check_can_step, check_prompt_index, check_reset_options
from text_gym.envs.rendering import Parts, render_episodes
from text_gym.envs.settings import RENDER_MODES, TextGenSettings

if TYPE_CHECKING:
    from text_gym.envs.episode import TextGenTask
    from text_gym.envs.vector import TextGenVectorEnv


class SingleTextGenEnv(gym.Env):
    """Base of the single TextGen envs. A subclass sets ``settings`` (num_envs 1, device ``"cpu"``, autoreset
    ``DISABLED``: a single env does not reset itself), ``task`` and ``_running``, and defines ``_parts``."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": list(RENDER_MODES), "render_fps": 4}
    vector_class: ClassVar[type[TextGenVectorEnv]]
    """The vector env class of the same task, which ``rebuilt`` returns."""
    settings: TextGenSettings
    task: TextGenTask
    _running: bool

    @property
    def render_mode(self) -> str | None:
        return self.settings.render_mode

    @property
    def text_info(self) -> bool:
        return self.settings.text_info

    def _start(self, seed: int | None, options: dict[str, Any] | None) -> int:
        """Check ``reset``'s options, seed ``np_random`` and return the episode's prompt index (``options``'
        ``prompt_index``, else a uniform draw)."""
        count = len(self.task.prompts)
        index = check_prompt_index(check_reset_options(options, ("prompt_index",)).get("prompt_index"), count)
        super().reset(seed=seed)
        return int(self.np_random.integers(count)) if index is None else index

    def _check_can_step(self) -> None:
        check_can_step(self._running, single=True)

    def _parts(self) -> Parts:
        raise NotImplementedError

    def render(self) -> str | np.ndarray | None:
        rendered = render_episodes(self.render_mode, [self._parts()], numbered=False)
        return None if rendered is None else rendered[0]

    def _render_human(self) -> None:
        """Print the episode after ``reset`` and every ``step`` in ``"human"`` mode."""
        if self.render_mode == "human":
            self.render()

    @property
    def _rebuild_source(self) -> Any:
        """The env whose built parts (task; a chat env's user) ``rebuilt`` shares."""
        return self

    def rebuilt(
        self,
        *,
        num_envs: int | None = None,
        autoreset_mode: str | AutoresetMode | None = None,
        device: str | torch.device | None = None,
    ) -> TextGenVectorEnv:
        """A vector env (``vector_class``) of this env's settings with the given ones changed (``None``: keep 1,
        ``DISABLED``, ``"cpu"``); it shares this env's task (tokenizer, reward model, prompts, vocabulary mask)."""
        settings = self.settings.with_vector(num_envs, autoreset_mode, device)
        return self.vector_class.from_settings(settings, source=self._rebuild_source)
