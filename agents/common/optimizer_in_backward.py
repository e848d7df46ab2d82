"""The optimizer step fused into the backward pass (PyTorch's tutorial "How to save memory by fusing the optimizer
step into the backward pass"): one optimizer per parameter, stepped by the parameter's
``register_post_accumulate_grad_hook`` as soon as its gradient is complete, which then frees the gradient. The
update never holds every gradient at once: its peak drops by up to the trainable parameters' gradient size (float32:
4 bytes per trainable weight).

What it rules out, because no step can wait for the others: gradient accumulation over micro-batches (the first
micro-batch's backward would already step), clipping by the global gradient norm (the norm is known only after
every step was taken), float16 loss scaling (the unscale and overflow check need every gradient first) and DDP (the
hook fires before the gradient all-reduce). ``AlgorithmConfig`` and ``agents.common.model_setup.optimizer_for``
refuse those combinations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


class OptimizerInBackward(torch.optim.Optimizer):
    """One ``make_optimizer([p])`` per parameter ``p``, each stepped inside ``backward`` by ``p``'s
    post-accumulate-grad hook, which then sets ``p.grad`` to None.

    It is a ``torch.optim.Optimizer`` to the code around it (accelerate's ``prepare``, checkpoints, the LR
    schedule): ``param_groups`` are the per-parameter optimizers' groups (setting ``group["lr"]`` sets theirs),
    ``state_dict`` / ``load_state_dict`` hold every one of them, ``step`` does nothing (the steps were taken in
    backward) and ``zero_grad`` drops any gradient left and restarts the norm count.

    A parameter whose gradient is not finite is not stepped (the others of that backward are: a partial step);
    ``grad_norm`` is then not finite, so ``agents.common.updater.MinibatchUpdater`` counts the step as skipped and
    warns. Checking each gradient costs one host sync per parameter.

    Args:
        params: the trainable parameters (each its own optimizer, in this order).
        make_optimizer: builds the optimizer of one parameter from ``[p]`` (e.g.
            ``agents.common.model_setup.adamw`` with its hyperparameters bound).
    """

    def __init__(
        self, params: Iterable[nn.Parameter], make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer]
    ) -> None:
        params = list(params)
        if not params:
            raise ValueError("OptimizerInBackward needs at least one parameter")
        self.optimizers = [make_optimizer([p]) for p in params]
        super().__init__(params, dict(self.optimizers[0].defaults))
        self.param_groups = [group for optimizer in self.optimizers for group in optimizer.param_groups]
        self._squared_norm = torch.zeros((), device=params[0].device)
        for p, optimizer in zip(params, self.optimizers, strict=True):
            p.register_post_accumulate_grad_hook(self._make_hook(optimizer))

    def _make_hook(self, optimizer: torch.optim.Optimizer) -> Callable[[torch.Tensor], None]:
        def step_in_backward(param: torch.Tensor) -> None:
            grad = param.grad
            self._squared_norm += grad.detach().float().square().sum()
            if bool(torch.isfinite(grad).all()):
                optimizer.step()
            param.grad = None

        return step_in_backward

    def grad_norm(self) -> torch.Tensor:
        """The global L2 norm (0-dim, float32) of every gradient stepped since the last ``zero_grad``."""
        return self._squared_norm.sqrt()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> None:
        """Nothing: each parameter was stepped in backward. ``closure`` is refused (it would recompute the loss)."""
        if closure is not None:
            raise ValueError("OptimizerInBackward steps inside backward and takes no closure")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients left (those not stepped) and restart ``grad_norm``'s count."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        self._squared_norm.zero_()

    def state_dict(self) -> dict[str, Any]:
        """``{"optimizers": [...]}``: every per-parameter optimizer's ``state_dict``, in parameter order."""
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (``ValueError`` for another number of parameters)."""
        states = state_dict["optimizers"]
        if len(states) != len(self.optimizers):
            raise ValueError(
                f"the state holds {len(states)} per-parameter optimizers, this optimizer has {len(self.optimizers)}"
            )
        for optimizer, state in zip(self.optimizers, states, strict=True):
            optimizer.load_state_dict(state)
        self.param_groups = [group for optimizer in self.optimizers for group in optimizer.param_groups]
