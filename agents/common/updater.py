"""The minibatch updater: epochs of shuffled minibatches, gradient accumulation, clipping, the non-finite skip and
the metrics of one rollout's update.

Every algorithm's ``train`` builds a loss function and hands it to ``MinibatchUpdater.run``; what the loss is
(PPO's clipped surrogate and value loss, REINFORCE's policy gradient) stays with the algorithm.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from agents.common.distributed import Reducer
from agents.common.optimizer_in_backward import OptimizerInBackward

LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
"""``loss_fn(indices, token_count) -> (loss, metrics)``: see ``MinibatchUpdater.run``."""


class MinibatchUpdater:
    """Optimizer steps over one rollout, the same on every process.

    Args:
        accelerator: the agent's ``accelerate.Accelerator`` (backward, DDP's ``no_sync``, clipping, loss scaling).
        model: the prepared (DDP-wrapped across processes) policy whose forward the loss functions call.
        optimizer: the prepared optimizer.
        parameters: what is clipped (the policy's trainable parameters).
        reducer: cross-process reductions (token counts, metrics, the skip decision).
        shuffle_generator: the CPU generator of the minibatch order.
        minibatch_size: episodes per optimizer step and process.
        gradient_accumulation_steps: micro-batches per minibatch.
        max_grad_norm: clipping threshold of the global gradient norm.
    """

    def __init__(
        self,
        accelerator: Any,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        parameters: list[torch.nn.Parameter],
        reducer: Reducer,
        shuffle_generator: torch.Generator,
        minibatch_size: int,
        gradient_accumulation_steps: int,
        max_grad_norm: float,
    ) -> None:
        self.accelerator = accelerator
        self.model = model
        self.optimizer = optimizer
        self.parameters = parameters
        self.reducer = reducer
        self.shuffle_generator = shuffle_generator
        self.minibatch_size = minibatch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.max_grad_norm = max_grad_norm

    def run(self, response_mask: torch.Tensor, n_epochs: int, loss_fn: LossFn, update: int = 0) -> dict[str, float]:
        """``n_epochs`` passes over the ``B`` episodes of ``response_mask`` ``[B, T]`` in shuffled minibatches of
        ``minibatch_size`` episodes (per process), each one optimizer step with ``gradient_accumulation_steps``
        micro-batches and gradient clipping.

        ``loss_fn(indices, token_count)`` returns the loss of the episodes ``indices`` and a dict of 0-dim metric
        tensors; each is a sum over the micro-batch's tokens divided by ``token_count`` (the minibatch's token count
        over all processes / the number of processes, see ``agents.common.losses``), so accumulated micro-batches
        and DDP's gradient average give the gradient of the global minibatch's token mean. A minibatch whose loss
        (on any process) or gradient norm is not finite is skipped by every process (a ``RuntimeWarning`` naming
        ``update``). Returns the metrics (token means over each global minibatch) averaged over the steps taken,
        plus ``grad_norm``, ``skipped_steps`` and ``optimizer_steps``.
        """
        B = response_mask.shape[0]
        size = min(self.minibatch_size, B)
        totals: dict[str, float] = {}
        steps = skipped = 0
        self.model.train()
        for _ in range(n_epochs):
            order = torch.randperm(B, generator=self.shuffle_generator).to(response_mask.device)
            for begin in range(0, B, size):
                minibatch = order[begin : begin + size]
                values = self._step_metrics(minibatch, self.reducer.mean(response_mask[minibatch].sum()), loss_fn)
                if not all(math.isfinite(v) for v in (values["loss"], values["grad_norm"])):
                    self._skip(update, values)
                    skipped += 1
                    continue
                self.optimizer.step()
                steps += 1
                for key, value in values.items():
                    totals[key] = totals.get(key, 0.0) + value
        self.optimizer.zero_grad(set_to_none=True)  # no gradients held through the next rollout
        self.model.eval()
        result = {key: value / max(steps, 1) for key, value in totals.items()}
        result["skipped_steps"] = float(skipped)
        result["optimizer_steps"] = float(steps)
        return result

    def _step_metrics(self, minibatch: torch.Tensor, token_count: torch.Tensor, loss_fn: LossFn) -> dict[str, float]:
        """Accumulate the gradients of ``minibatch``'s micro-batches and clip them; returns the global metrics of
        the step (``loss``, the loss function's, ``grad_norm``), the optimizer not stepped yet."""
        micro_batches = minibatch.tensor_split(min(self.gradient_accumulation_steps, len(minibatch)))
        self.optimizer.zero_grad(set_to_none=True)
        metrics: dict[str, torch.Tensor] = {}
        for i, micro in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            with self.accelerator.no_sync(self.model) if not last else contextlib.nullcontext():
                loss, micro_metrics = loss_fn(micro, token_count)
                self.accelerator.backward(loss)
            # Every term is a sum over the micro-batch's tokens / token_count: the sum over micro-batches is this
            # process's share of the minibatch's token mean.
            for key, value in {"loss": loss, **micro_metrics}.items():
                metrics[key] = metrics.get(key, 0.0) + value.detach().float()
        grad_norm = self._clipped_grad_norm()
        values = self.reducer.mean_floats({key: float(value) for key, value in metrics.items()})
        values["grad_norm"] = float(grad_norm)
        return values

    def _clipped_grad_norm(self) -> torch.Tensor:
        """Clip the gradients by their global norm and return it (before clipping); with an
        ``OptimizerInBackward`` the norm of the gradients it already stepped (it cannot clip)."""
        optimizer = getattr(self.optimizer, "optimizer", self.optimizer)  # inside accelerate's wrapper
        if isinstance(optimizer, OptimizerInBackward):
            return optimizer.grad_norm()
        return self.accelerator.clip_grad_norm_(self.parameters, self.max_grad_norm)

    def _skip(self, update: int, values: dict[str, float]) -> None:
        """Drop a non-finite step's gradients (float16: and shrink the loss scale), with a warning."""
        warnings.warn(
            f"update {update}: non-finite loss ({values['loss']}) or gradient norm ({values['grad_norm']}); this "
            "optimizer step is skipped",
            RuntimeWarning,
            stacklevel=3,
        )
        self.optimizer.zero_grad(set_to_none=True)
        if self.accelerator.scaler is not None:
            self.accelerator.scaler.update()  # float16: the next step uses a smaller loss scale
