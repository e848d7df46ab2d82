"""What the learn loop reports: SB3's logger (tensorboard, stdout table), the episode-info buffer behind
``rollout/ep_rew_mean`` / ``ep_len_mean``, the samples text table, and the gold reward model's score.

In data-parallel training every process calls ``TrainingLogger.log`` (it gathers the episodes of all
processes), and only the main process writes anything.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from agents.common.distributed import Reducer
from agents.common.rollout import RolloutBuffer
from reward_models import call_reward, make_reward_model
from text_gym.chat.gold import gold_fields


def markdown_table(rows: list[tuple[str, str, float]]) -> str:
    """A markdown table of ``(prompt, completion, score)`` rows (pipes escaped, newlines flattened)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| prompt | completion | score |", "|---|---|---|"]
    lines += [f"| {cell(p)} | {cell(c)} | {s:.4f} |" for p, c, s in rows]
    return "\n".join(lines)


class TrainingLogger:
    """Tensorboard / stdout logging of one agent's training (SB3's logger and metric names).

    Args:
        reducer: cross-process reductions (the episodes of every process are logged).
        is_main_process: only the main process writes.
        gold_reward_model: reward-model spec scored on every rollout's completions (``rollout/gold_score_mean``);
            loaded on the main process only.
        log_samples_every / n_logged_samples: the samples table's period (updates) and rows.
    """

    def __init__(
        self,
        reducer: Reducer,
        is_main_process: bool,
        gold_reward_model: str | None,
        log_samples_every: int,
        n_logged_samples: int,
    ) -> None:
        from stable_baselines3.common.logger import Logger

        self.reducer = reducer
        self.is_main_process = is_main_process
        self.gold_reward_model = make_reward_model(gold_reward_model) if gold_reward_model and is_main_process else None
        self.uses_gold = gold_reward_model is not None
        self.log_samples_every = log_samples_every
        self.n_logged_samples = n_logged_samples
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=100)
        self.sb3_logger = Logger(folder=None, output_formats=[])
        self.writer = None

    def configure(self, verbose: int, tensorboard_log: str | None, tb_log_name: str, reset_num_timesteps: bool) -> None:
        """Open the outputs of a ``learn`` call (main process: SB3's ``configure_logger``; others: none)."""
        from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
        from stable_baselines3.common.utils import configure_logger

        if not self.is_main_process:
            self.sb3_logger, self.writer = Logger(folder=None, output_formats=[]), None
            return
        self.sb3_logger = configure_logger(verbose, tensorboard_log, tb_log_name, reset_num_timesteps)
        self.writer = next(
            (f.writer for f in self.sb3_logger.output_formats if isinstance(f, TensorBoardOutputFormat)), None
        )

    def log(
        self,
        metrics: dict[str, float],
        buffer: RolloutBuffer,
        prompt_fields: dict[str, list],
        n_updates: int,
        num_timesteps: int,
    ) -> None:
        """Record ``metrics`` (already global) and the rollout's episodes of every process, then dump.
        ``prompt_fields``: the per-prompt fields of the rollout's episodes (``{field: [value per episode]}``), for a
        gold reward model that asks for them (a chat env's conversations too: ``gold_fields``)."""
        scores = self.reducer.gather(buffer.scores.double()).cpu().numpy()
        lengths = self.reducer.gather(buffer.response_mask.sum(1)).cpu().numpy()
        texts = None
        wants_samples = (n_updates - 1) % self.log_samples_every == 0 and self.writer is not None
        if self.uses_gold or self.reducer.any(wants_samples):
            episode_fields = gold_fields(prompt_fields, buffer.conversations)
            field_rows = [
                {name: values[k] for name, values in episode_fields.items()} for k in range(len(buffer.prompts))
            ]
            texts = self.reducer.gather_objects(list(zip(buffer.prompts, buffer.completions, field_rows, strict=True)))
        if not self.is_main_process:
            return
        self.ep_info_buffer.extend({"r": float(s), "l": float(n)} for s, n in zip(scores, lengths, strict=True))
        self.sb3_logger.record("rollout/ep_rew_mean", float(np.mean([e["r"] for e in self.ep_info_buffer])))
        self.sb3_logger.record("rollout/ep_len_mean", float(np.mean([e["l"] for e in self.ep_info_buffer])))
        if self.gold_reward_model is not None:
            prompts, completions = [p for p, _, _ in texts], [c for _, c, _ in texts]
            fields = {name: [row[name] for _, _, row in texts] for name in episode_fields}
            gold = np.asarray(
                call_reward(self.gold_reward_model, prompts, completions, fields, "gold_reward_model"), dtype=np.float64
            )
            metrics = {**metrics, "rollout/gold_score_mean": float(gold.mean())}
        for key, value in metrics.items():
            self.sb3_logger.record(key, value)
        self.sb3_logger.record("train/n_updates", n_updates)
        self.sb3_logger.record("time/total_timesteps", num_timesteps)
        if wants_samples:
            rows = [(p, c, s) for (p, c, _), s in zip(texts, scores.tolist(), strict=True)][: self.n_logged_samples]
            self.writer.add_text("samples", markdown_table(rows), num_timesteps)
        self.sb3_logger.dump(step=num_timesteps)

    def state_dict(self) -> dict[str, Any]:
        return {"ep_info_buffer": list(self.ep_info_buffer)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ep_info_buffer = deque(state["ep_info_buffer"], maxlen=self.ep_info_buffer.maxlen)
