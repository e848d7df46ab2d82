"""The console of an SFT run: Trainer's progress bar with the latest loss on it, and nothing else.

Kept apart from ``trainer.py`` so that ``import agents`` does not import ``transformers.Trainer``.
"""

from __future__ import annotations

from tqdm.auto import tqdm
from transformers.trainer_callback import ProgressCallback


class LossProgressCallback(ProgressCallback):
    """``transformers``' ``ProgressCallback`` (one tqdm bar over the optimizer steps) that shows each logged loss on
    the bar instead of printing the log dict as a line."""

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        if state.is_world_process_zero:  # a resumed run's bar starts at its checkpoint's step
            self.training_bar = tqdm(total=state.max_steps, initial=state.global_step, desc="sft", dynamic_ncols=True)
        self.current_step = state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if state.is_world_process_zero and self.training_bar is not None and logs and "loss" in logs:
            self.training_bar.set_postfix(epoch=f"{state.epoch:.2f}", loss=f"{logs['loss']:.4f}", refresh=False)
