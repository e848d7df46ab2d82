"""Learning-rate schedules over a training run (SB3's ``progress_remaining`` convention)."""

from __future__ import annotations

from typing import Literal

LRSchedule = Literal["constant", "linear"]
LR_SCHEDULES = ("constant", "linear")


def scheduled_learning_rate(
    learning_rate: float, schedule: LRSchedule, num_timesteps: int, total_timesteps: int
) -> float:
    """The learning rate after ``num_timesteps`` of ``total_timesteps``: constant, or decayed linearly to 0."""
    if schedule == "constant":
        return learning_rate
    if schedule == "linear":
        return learning_rate * max(1.0 - num_timesteps / total_timesteps, 0.0)
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
