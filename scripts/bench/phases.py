"""The phase clock: when each training iteration starts, and where its time goes, seen through public hooks only.

- Iteration starts: an SB3 callback (``on_rollout_start``: our agents, stock SB3) or a ``transformers``
  ``TrainerCallback`` (``on_train_begin``, then every ``on_step_end`` but the last: TRL's trainers).
- Inside an iteration, torch forward hooks on the models' backbones (``nn.Module.register_forward_pre_hook`` /
  ``register_forward_hook``): the policy's, the reference's (when it is a separate model) and the reward model's.

The phases of one iteration (seconds; they add up to the iteration's time):

- ``update``: from the policy's first forward with gradients enabled (the training forward) to the iteration's
  end: training forwards, backward, optimizer step, logging;
- ``reward``: the reward model's forward passes before the update;
- ``reference``: forwards of the reference model, or of the policy with its LoRA adapters disabled (peft's
  ``disable_adapter``);
- ``old_logprobs``: the policy's own no-grad forwards that are not decoding steps (no KV cache passed in), i.e.
  a second scoring of the sampled completions (TRL's RLOO does one; our agents keep the log-probs they sampled
  with);
- ``generation``: the rest before the update: sampling (decoding steps), tokenising and decoding, the reward
  model's tokenisation, advantages.

Not visible through public hooks, so measured coarser: where TRL's generate-and-score step ends (the time between
its last scoring forward and the training forward, e.g. splitting the batch, counts as generation), and the
reward functions' text handling (counted as generation on both sides). On CUDA the clock synchronises the device
around each timed forward (not around decoding steps, which it does not time).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Literal

PHASES = ("generation", "old_logprobs", "reference", "reward", "update")
"""The per-iteration phases ``PhaseClock.phase_times`` reports (seconds; see the module docstring)."""
Role = Literal["policy", "reference", "reward"]


def _tuner_layer(module: Any) -> Any | None:
    """The first peft adapter layer inside ``module`` (None without peft or adapters)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return None
    return next((m for m in module.modules() if isinstance(m, BaseTunerLayer)), None)


def _has_cache(args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a forward's arguments hold a KV cache (a decoding step)."""
    from transformers import Cache

    return any(isinstance(value, Cache) for value in (*args, *kwargs.values()))


class PhaseClock:
    """Iteration starts and timed forward events of one training run (see the module docstring).

    Args:
        cuda: synchronise the CUDA device before reading the clock.
    """

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.starts: list[float] = []
        """The start time of each iteration (``time.perf_counter`` seconds)."""
        self.events: list[tuple[str, float, float]] = []
        """``(phase, start, end)`` of each timed forward; phase ``update`` marks the first training forward."""
        self._update_started = False

    def now(self) -> float:
        """``time.perf_counter()``, after the device finished its queued work (CUDA)."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def mark_iteration(self) -> None:
        """Record that an iteration starts now."""
        self.starts.append(self.now())
        self._update_started = False

    def sb3_callback(self) -> Any:
        """An SB3 ``BaseCallback`` marking an iteration at every rollout start (our agents and SB3's algorithms
        call it once per iteration)."""
        from stable_baselines3.common.callbacks import BaseCallback

        clock = self

        class _IterationMarks(BaseCallback):
            def _on_rollout_start(self) -> None:
                clock.mark_iteration()

            def _on_step(self) -> bool:
                return True

        return _IterationMarks()

    def trainer_callback(self) -> Any:
        """A ``transformers.TrainerCallback`` marking an iteration (one optimizer step) at the start of training
        and at the end of every step; at the end of training the last step's mark is dropped (that iteration ends
        with the run)."""
        from transformers import TrainerCallback

        clock = self

        class _IterationMarks(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs) -> None:
                clock.mark_iteration()

            def on_step_end(self, args, state, control, **kwargs) -> None:
                clock.mark_iteration()

            def on_train_end(self, args, state, control, **kwargs) -> None:
                if len(clock.starts) > 1:
                    clock.starts.pop()

        return _IterationMarks()

    def watch(self, module: Any, role: Role) -> None:
        """Time the forwards of ``module`` (an ``nn.Module``, best the backbone every forward of that model runs
        through) as ``role``: the policy's are classified (module docstring), a reference's count as
        ``reference``, a reward model's as ``reward``."""
        if role not in ("policy", "reference", "reward"):
            raise ValueError(f"role must be 'policy', 'reference' or 'reward', got {role!r}")
        adapters = _tuner_layer(module) if role == "policy" else None
        open_calls: list[tuple[str, float] | None] = []

        def phase(args: tuple, kwargs: dict[str, Any]) -> str | None:
            import torch

            if role != "policy":
                return role
            if torch.is_grad_enabled():
                return "update"
            if adapters is not None and adapters.disable_adapters:
                return "reference"
            return None if _has_cache(args, kwargs) else "old_logprobs"

        def before(_module: Any, args: tuple, kwargs: dict[str, Any]) -> None:
            name = phase(args, kwargs)
            if name == "update":
                if not self._update_started:  # only the first training forward of the iteration is timed
                    self._update_started = True
                    start = self.now()
                    self.events.append(("update", start, start))
                name = None
            open_calls.append(None if name is None else (name, self.now()))

        def after(_module: Any, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
            call = open_calls.pop()
            if call is not None:
                self.events.append((call[0], call[1], self.now()))

        module.register_forward_pre_hook(before, with_kwargs=True)
        module.register_forward_hook(after, with_kwargs=True)

    def watch_trainer(self, trainer: Any) -> None:
        """Watch a TRL trainer's models through its public attributes: the policy ``trainer.model`` (the
        transformers model inside a peft wrapper; its backbone), ``trainer.ref_model`` when there is one, and the
        reward models among ``trainer.reward_funcs``."""
        import torch

        policy = trainer.model.get_base_model() if hasattr(trainer.model, "get_base_model") else trainer.model
        self.watch(policy.base_model, "policy")  # transformers' backbone: every forward, generation's too, runs it
        if getattr(trainer, "ref_model", None) is not None:
            self.watch(trainer.ref_model.base_model, "reference")
        for reward in getattr(trainer, "reward_funcs", []):
            if isinstance(reward, torch.nn.Module):
                self.watch(reward, "reward")

    def watch_agent(self, agent: Any, reward_model: Any) -> None:
        """Watch one of our agents: its policy's backbone, its reference's when that is a frozen copy (a LoRA
        policy's reference is its own base, seen through the policy's hooks), and ``reward_model`` (the reward
        model's ``nn.Module``)."""
        from agents import LMPolicy

        self.watch(agent.policy.backbone, "policy")
        if isinstance(agent.ref_policy, LMPolicy):
            self.watch(agent.ref_policy.backbone, "reference")
        self.watch(reward_model, "reward")

    def phase_times(self, end: float) -> list[dict[str, float]]:
        """Per iteration (from each of ``starts`` to the next, the last to ``end``), the seconds spent in each
        of ``PHASES``; they add up to the iteration's time."""
        return phase_times(self.events, self.starts, end)


def phase_times(events: list[tuple[str, float, float]], starts: list[float], end: float) -> list[dict[str, float]]:
    """Split each iteration (bounded by ``starts`` and ``end``) into ``PHASES`` from ``events``: ``update``
    starts at the first ``update`` event (the iteration's end if none); ``reward``, ``reference`` and
    ``old_logprobs`` are their events' durations before it; ``generation`` is the rest before it."""
    rows = []
    for begin, finish in itertools.pairwise([*starts, end]):
        inside = [e for e in events if begin <= e[1] and e[2] <= finish]
        update_start = min((e[1] for e in inside if e[0] == "update"), default=finish)
        totals = dict.fromkeys(("old_logprobs", "reference", "reward"), 0.0)
        for name, a, b in inside:
            if name in totals and b <= update_start:
                totals[name] += b - a
        rows.append(
            {
                "generation": (update_start - begin) - sum(totals.values()),
                **totals,
                "update": finish - update_start,
            }
        )
    return rows
