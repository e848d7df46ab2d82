"""One GRPO / RLOO iteration (generation + update) of our agents vs TRL's ``GRPOTrainer`` / ``RLOOTrainer``: wall
time, peak memory and where each side spends its time.

Every case runs in a fresh process (:func:`scripts.bench.iteration.in_fresh_process`: ``MALLOC_MMAP_THRESHOLD_``
set, peak RSS above the import baseline on CPU, ``torch.cuda.max_memory_allocated`` on CUDA) and trains
``iterations`` iterations; the first is a warm-up. Matched on both sides:

- the same policy weights (``policy_dir``, float32 weights; ``dtype`` is the autocast / mixed-precision dtype),
  the default train prompts (raw text, no chat template), ``prompts`` prompts per iteration with ``group_size``
  completions each (``prompts x group_size`` completions per generation batch);
- exactly ``new_tokens`` new tokens per completion: our env has no EOS ids; TRL generates with
  ``min_new_tokens = max_completion_length = new_tokens`` (EOS suppressed until then), so no completion ends early;
  sampling at temperature 1, no top-k / top-p;
- the same reward: the sequence classifier in ``reward_dir`` scoring prompt + completion (our ``hf:`` reward model;
  TRL's reward model given as that folder);
- one AdamW step (``learning_rate``, gradient clipping at 1.0, no weight decay) per generation batch: ours with
  ``minibatch_size = n_envs``, TRL with ``per_device_train_batch_size`` = the whole batch, one gradient accumulation
  step and one iteration (``num_iterations = 1``); no gradient checkpointing unless ``gradient_checkpointing``
  (then on both sides);
- KL coefficient ``kl_coef`` (TRL's ``beta``) to the initial policy; with 0 neither side builds or runs a reference
  (ours since the ``kl_coef=0`` lever, TRL by design). Where the KL goes differs by design and not in cost: TRL's
  GRPO adds ``beta x k3`` to the loss, our GRPO and both RLOOs subtract ``beta x KL`` from the reward;
- LoRA cases (``-lora``): rank ``lora_r``, alpha ``2 x lora_r``, no dropout, every linear layer but the LM head,
  the adapter-disabled base as the reference on both sides.

Cases: ``ours`` / ``ours-lora`` (:class:`agents.REINFORCE` with ``baseline="grpo"`` or ``"rloo"``) and ``trl`` /
``trl-lora`` (``trl.GRPOTrainer`` with ``loss_type="dapo"``, the token mean our GRPO uses, or ``trl.RLOOTrainer``).

Phases, measured the same way on both sides by wrapping methods of the live objects (each call's wall time;
``torch.cuda.synchronize`` around it on CUDA): the *rollout window* is our ``collect_rollouts`` and TRL's
``_generate_and_score_completions`` (everything from prompts to scored, reference-scored completions); within it,
*reward* is the reward model (our ``env.task.score``, TRL's ``_calculate_rewards``), *reference* the reference
forward (our ``ref_policy`` call; TRL's ``_get_per_token_logps_and_entropies`` calls in the window, except that
RLOO's first one is *old log-probs*: a no-grad forward of the policy that TRL's RLOO always runs and ours does not,
since it keeps the log-probs it sampled with), and *generation* the rest of the window (sampling, tokenising and
decoding, advantages). *Update* is the rest of the iteration (training forward, backward, optimizer step, logging).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import statistics
import time
from dataclasses import dataclass, fields
from typing import Any

from reward_models import hf_progress_bars_disabled
from scripts.bench.iteration import env_kwargs, in_fresh_process, measure_training

GROUP_CASES = ("ours", "ours-lora", "trl", "trl-lora")
GROUP_ALGORITHMS = ("grpo", "rloo")
PHASES = ("generation", "old_logprobs", "reference", "reward", "update")
"""The per-iteration phases reported for each case (seconds; see the module docstring)."""


@dataclass
class GroupSettings:
    """What one case trains (see the module docstring)."""

    policy_dir: str
    reward_dir: str
    algorithm: str = "grpo"
    prompts: int = 8
    group_size: int = 4
    new_tokens: int = 32
    iterations: int = 4
    kl_coef: float = 0.04
    learning_rate: float = 1e-6
    lora_r: int = 16
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    threads: int | None = None
    gradient_checkpointing: bool = False
    rollout_cache: str = "dynamic"

    @property
    def batch(self) -> int:
        """Completions per generation batch (= per optimizer step)."""
        return self.prompts * self.group_size


def load_trl_group_trainers() -> dict[str, tuple[type, type]]:
    """``{"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}`` from trl, or a MissingExtraError
    naming the extra that installs a trl that has them."""
    from reward_models import MissingExtraError

    try:
        from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer
    except ImportError as err:
        raise MissingExtraError(
            'the TRL GRPO / RLOO cases need trl >= 1.13: pip install "text-gym[bench-trl]"'
        ) from err
    return {"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}


class PhaseClock:
    """Records ``(name, start, end)`` for every call of the methods it wraps."""

    def __init__(self, cuda: bool) -> None:
        self.events: list[tuple[str, float, float]] = []
        self.cuda = cuda

    def _now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def timed(self, name: str, function):
        """``function`` wrapped to record each call as an event ``name``."""

        def wrapper(*args, **kwargs):
            start = self._now()
            try:
                return function(*args, **kwargs)
            finally:
                self.events.append((name, start, self._now()))

        return wrapper

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Replace ``owner.attribute`` (a bound method or callable) by its timed version, on this object only."""
        setattr(owner, attribute, self.timed(name, getattr(owner, attribute)))


def phase_times(
    events: list[tuple[str, float, float]], starts: list[float], end: float, old_logprobs_first: bool
) -> list[dict[str, float]]:
    """Per iteration (bounded by ``starts`` and ``end``), the seconds spent in each of :data:`PHASES`.

    ``events`` hold ``rollout`` windows and, inside them, ``reward``, ``reference`` and ``logprobs`` calls;
    ``logprobs`` calls are reference forwards except the first of each window when ``old_logprobs_first``
    (TRL's RLOO). Generation is the window minus the rest; update the iteration minus the window."""
    bounds = [*starts, end]
    rows = []
    for begin, finish in itertools.pairwise(bounds):
        inside = sorted((e for e in events if begin <= e[1] and e[2] <= finish), key=lambda e: e[1])
        totals = dict.fromkeys(("rollout", "reward", "reference", "old_logprobs"), 0.0)
        for window in (e for e in inside if e[0] == "rollout"):
            in_window = [e for e in inside if e[0] != "rollout" and window[1] <= e[1] and e[2] <= window[2]]
            logprobs = [e for e in in_window if e[0] == "logprobs"]
            for name, a, b in in_window:
                if name == "logprobs":
                    name = "old_logprobs" if old_logprobs_first and a == logprobs[0][1] else "reference"
                totals[name] += b - a
            totals["rollout"] += window[2] - window[1]
        rows.append(
            {
                "generation": totals["rollout"] - totals["reward"] - totals["reference"] - totals["old_logprobs"],
                "old_logprobs": totals["old_logprobs"],
                "reference": totals["reference"],
                "reward": totals["reward"],
                "update": (finish - begin) - totals["rollout"],
            }
        )
    return rows


class _TimedReference:
    """Our agent's KL reference, each call recorded by a :class:`PhaseClock` (attributes pass through)."""

    def __init__(self, reference: Any, clock: PhaseClock) -> None:
        self.__dict__.update(_reference=reference, _call=clock.timed("reference", reference))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reference, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._reference, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)


def _train_ours(s: GroupSettings, lora: bool, clock: PhaseClock) -> list[float]:
    from agents import REINFORCE
    from scripts.bench.iteration import _timer_callback

    lora_fields = {"lora_r": s.lora_r, "lora_alpha": 2.0 * s.lora_r} if lora else {}
    agent = REINFORCE(
        s.policy_dir,
        "TextGen-v0",
        env_kwargs=env_kwargs(s),
        n_envs=s.batch,
        baseline=s.algorithm,
        group_size=s.group_size,
        minibatch_size=s.batch,
        num_iterations=1,
        learning_rate=s.learning_rate,
        kl_coef=s.kl_coef,
        seed=s.seed,
        device=s.device,
        dtype=s.dtype,
        gradient_checkpointing=s.gradient_checkpointing,
        rollout_cache=s.rollout_cache,
        **lora_fields,
    )
    clock.wrap(agent, "collect_rollouts", "rollout")
    clock.wrap(agent.env.task, "score", "reward")
    if agent.ref_policy is not None:
        agent.ref_policy = _TimedReference(agent.ref_policy, clock)
    times: list[float] = []
    agent.learn(s.batch * s.new_tokens * s.iterations, callback=_timer_callback(times), progress_bar=False)
    return times


def _checkpointing_arg(config_class: type, enabled: bool) -> dict[str, bool]:
    """TRL's gradient-checkpointing flag under the name the installed transformers takes (``activation_checkpointing``
    from transformers 5.x, whose old ``gradient_checkpointing`` name warns on every use)."""
    names = {f.name for f in fields(config_class)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def _train_trl(s: GroupSettings, lora: bool, clock: PhaseClock, out_dir: str) -> list[float]:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

    from reward_models.common.lm import load_causal_lm
    from text_gym import default_prompts

    Config, Trainer = load_trl_group_trainers()[s.algorithm]
    tokenizer = AutoTokenizer.from_pretrained(s.policy_dir, padding_side="left")
    torch.manual_seed(s.seed)
    policy = load_causal_lm(s.policy_dir, dtype=torch.float32, trainable=True)
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            task_type="CAUSAL_LM", r=s.lora_r, lora_alpha=2 * s.lora_r, lora_dropout=0.0, target_modules="all-linear"
        )
    algorithm_args = {"loss_type": "dapo"} if s.algorithm == "grpo" else {}
    args = Config(
        output_dir=out_dir,
        per_device_train_batch_size=s.batch,
        num_generations=s.group_size,
        gradient_accumulation_steps=1,
        num_iterations=1,
        max_steps=s.iterations,
        max_completion_length=s.new_tokens,
        generation_kwargs={"min_new_tokens": s.new_tokens},
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=s.kl_coef,
        learning_rate=s.learning_rate,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        **_checkpointing_arg(Config, s.gradient_checkpointing),
        disable_dropout=True,
        seed=s.seed,
        use_cpu=s.device == "cpu",
        bf16=s.dtype == "bfloat16",
        fp16=s.dtype == "float16",
        report_to="none",
        logging_strategy="no",
        save_strategy="no",
        disable_tqdm=True,
        **algorithm_args,
    )
    times: list[float] = []

    class _Timer(TrainerCallback):
        def on_train_begin(self, *args, **kwargs) -> None:
            times.append(clock._now())

        def on_step_end(self, *args, **kwargs) -> None:
            times.append(clock._now())

    trainer = Trainer(
        model=policy,
        reward_funcs=s.reward_dir,
        args=args,
        train_dataset=Dataset.from_dict({"prompt": default_prompts("train")}),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[_Timer()],
    )
    clock.wrap(trainer, "_generate_and_score_completions", "rollout")
    clock.wrap(trainer, "_calculate_rewards", "reward")
    clock.wrap(trainer, "_get_per_token_logps_and_entropies", "logprobs")
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()
    return times[:-1]


def run_group_case(case: str, settings: GroupSettings, out_dir: str) -> dict[str, Any]:
    """Train ``settings.iterations`` iterations of ``case`` (from :data:`GROUP_CASES`) in this process: iteration
    times, peak memory, and per-iteration phase times (:func:`phase_times`)."""
    import importlib

    if case not in GROUP_CASES:
        raise ValueError(f"case must be one of {GROUP_CASES}, got {case!r}")
    if settings.algorithm not in GROUP_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {GROUP_ALGORITHMS}, got {settings.algorithm!r}")
    trl = case.startswith("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    # Libraries are imported before the memory baseline: their footprint is not training memory.
    for module in ("agents", "text_gym", "peft", *(("datasets", "trl") if trl else ())):
        importlib.import_module(module)
    if trl:
        load_trl_group_trainers()
    clock = PhaseClock(settings.device.startswith("cuda"))
    lora = case.endswith("-lora")

    def train() -> list[float]:
        if trl:
            return _train_trl(settings, lora, clock, out_dir)
        return _train_ours(settings, lora, clock)

    with hf_progress_bars_disabled():  # no "Loading weights" bars from either side
        row = measure_training(train, settings.iterations, settings.device, settings.threads)
    phases = phase_times(
        clock.events, row.pop("iteration_starts"), row.pop("end"), trl and settings.algorithm == "rloo"
    )
    return {"case": case, "algorithm": settings.algorithm, "kl_coef": settings.kl_coef, "phases_s": phases, **row}


def run_group_case_in_subprocess(case: str, settings: GroupSettings, out_dir: str) -> dict[str, Any]:
    """:func:`run_group_case` in a fresh process; adds ``median_s`` and the median of each phase over the timed
    iterations (the first is a warm-up)."""
    row = in_fresh_process(run_group_case, case, settings, out_dir)
    timed = row["phases_s"][1:]
    row["median_s"] = statistics.median(row["iteration_s"][1:])
    row["phase_median_s"] = {phase: statistics.median(p[phase] for p in timed) for phase in PHASES}
    return row
