"""One PPO iteration (rollout + update): wall time and peak memory of our PPO (full fine-tuning and LoRA), TRL's PPO
trainer and stock SB3 PPO.

Every case runs in a fresh process (``run_case_in_subprocess``), so peak memory is its own: on CPU the process's
resident set size (RSS) is sampled every 5 ms while it trains, and the figure reported is that peak minus the RSS
after the imports and before any model is loaded (the libraries' own footprint differs between frameworks and is
not training memory); the process runs with ``MALLOC_MMAP_THRESHOLD_=131072`` so that glibc serves every block of
128 KiB or more with its own mapping and returns it on free: the RSS then follows live memory instead of what the
allocator keeps after a peak. On CUDA it is ``torch.cuda.max_memory_allocated``. Each case trains ``iterations`` PPO
iterations of ``batch`` episodes of exactly ``new_tokens`` tokens (no EOS stopping on any side; sampling at
temperature 1, no top-k / top-p) and records the wall time of each; the first is a warm-up.

Matched settings on every side: the same policy weights and prompts (the default train prompts), the same reward
model (``reward_dir``: a sequence classifier with a scalar head, scoring prompt + completion), ``n_epochs`` passes of
minibatches of ``minibatch_size`` episodes (one optimizer step each), AdamW at ``learning_rate``, clip range 0.2,
value clip 0.2, vf_coef 0.1, gamma 1, lambda 0.95, per-token k1 KL penalty ``kl_coef`` to a frozen reference copy.
Cases:

- ``ours``: :class:`agents.PPO` (value head on the shared backbone, the default; every ``ours*`` case rolls out
  with ``rollout_cache``);
- ``ours-separate-critic``: :class:`agents.PPO` with ``separate_critic=True`` (a second backbone for values, the
  architecture TRL uses);
- ``ours-lora``: :class:`agents.PPO` with LoRA adapters (``lora_r``, alpha ``2 * lora_r``, all linear layers) and
  the adapter-disabled base as the reference;
- ``trl``: ``trl.experimental.ppo.PPOTrainer`` (trl < 1.13, where it still exists) with a separate value model
  initialised from the policy;
- ``sb3``: ``stable_baselines3.PPO`` with :class:`agents.sb3.LMActorCriticPolicy` and
  :class:`agents.sb3.KLPenaltyCallback` on :class:`agents.sb3.SB3VecEnv` (``n_steps = new_tokens``), meant for a
  tiny model (SB3 re-reads the whole context every step: no KV cache).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CASES = ("ours", "ours-separate-critic", "trl", "sb3", "ours-lora")
MALLOC_MMAP_THRESHOLD = "131072"
"""glibc's mmap threshold (bytes) for the benchmark processes: large blocks are returned to the OS when freed."""


@dataclass
class IterationSettings:
    """What one case trains (see the module docstring)."""

    policy_dir: str
    reward_dir: str
    batch: int = 16
    new_tokens: int = 32
    iterations: int = 3
    n_epochs: int = 2
    minibatch_size: int = 8
    learning_rate: float = 1e-6
    kl_coef: float = 0.05
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    threads: int | None = None
    lora_r: int = 16
    gradient_checkpointing: bool = False
    rollout_cache: str = "dynamic"


def _rss_bytes() -> int:
    """Resident set size of this process in bytes (Linux /proc; elsewhere the peak so far from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class MemorySampler:
    """Samples this process's RSS every ``interval_s`` seconds in a thread while used as a context manager."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _timer_callback(times: list[float]):
    """SB3 callback appending a timestamp at every rollout start (agents and SB3 call it once per iteration)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Timer(BaseCallback):
        def _on_rollout_start(self) -> None:
            times.append(time.perf_counter())

        def _on_step(self) -> bool:
            return True

    return _Timer()


def env_kwargs(s: Any) -> dict[str, Any]:
    """``TextGen-v0`` as every case of ours uses it (``s``: settings with ``policy_dir``, ``reward_dir`` and
    ``new_tokens``): the reward model scoring prompt + completion, exactly
    ``new_tokens`` tokens per episode (no EOS ids), the default train prompts and the policy's tokenizer."""
    from text_gym import default_prompts

    return {
        "reward_model": f"hf:{s.reward_dir}?include_prompt=true",
        "max_new_tokens": s.new_tokens,
        "eos_token_ids": [],
        "prompts": default_prompts("train"),
        "tokenizer": s.policy_dir,
    }


def _train_ours(s: IterationSettings, separate_critic: bool, lora: bool = False) -> list[float]:
    from agents import PPO

    lora_fields = {"lora_r": s.lora_r, "lora_alpha": 2.0 * s.lora_r} if lora else {}
    agent = PPO(
        s.policy_dir,
        "TextGen-v0",
        env_kwargs=env_kwargs(s),
        n_envs=s.batch,
        n_epochs=s.n_epochs,
        minibatch_size=s.minibatch_size,
        learning_rate=s.learning_rate,
        kl_coef=s.kl_coef,
        seed=s.seed,
        device=s.device,
        dtype=s.dtype,
        separate_critic=separate_critic,
        gradient_checkpointing=s.gradient_checkpointing,
        rollout_cache=s.rollout_cache,
        **lora_fields,
    )
    times: list[float] = []
    agent.learn(s.batch * s.new_tokens * s.iterations, callback=_timer_callback(times), progress_bar=False)
    return times


def _train_sb3(s: IterationSettings) -> list[float]:
    import torch
    from stable_baselines3 import PPO

    from agents.sb3 import KLPenaltyCallback, LMActorCriticPolicy, SB3VecEnv

    torch.manual_seed(s.seed)
    env = SB3VecEnv("TextGen-v0", num_envs=s.batch, device=s.device, **env_kwargs(s))
    model = PPO(
        LMActorCriticPolicy,
        env,
        n_steps=s.new_tokens,
        batch_size=s.minibatch_size * s.new_tokens,
        n_epochs=s.n_epochs,
        learning_rate=s.learning_rate,
        gamma=1.0,
        gae_lambda=0.95,
        clip_range=0.2,
        clip_range_vf=0.2,
        vf_coef=0.1,
        ent_coef=0.0,
        max_grad_norm=1.0,
        seed=s.seed,
        device=s.device,
        policy_kwargs={"model": s.policy_dir},
    )
    times: list[float] = []
    model.learn(
        s.batch * s.new_tokens * s.iterations, callback=[KLPenaltyCallback(kl_coef=s.kl_coef), _timer_callback(times)]
    )
    return times


def load_trl_ppo() -> tuple[type, type]:
    """TRL's ``(PPOConfig, PPOTrainer)``, or a MissingExtraError saying which trl versions have them."""
    from reward_models import MissingExtraError

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl.experimental.ppo import PPOConfig, PPOTrainer
    except ImportError as err:
        raise MissingExtraError(
            "the PPO case 'trl' (--ppo-cases trl) needs trl's PPO trainer, which only trl 1.0-1.12 ship (in "
            'trl.experimental.ppo; TRL removed it in 1.13): pip install "text-gym[bench-trl-ppo]" (trl>=1.0,<1.13); '
            "the maintained TRL comparison is --grpo-cases / --rloo-cases"
        ) from err
    return PPOConfig, PPOTrainer


def _train_trl(s: IterationSettings, out_dir: str) -> list[float]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

    from reward_models.common.lm import load_causal_lm
    from text_gym import default_prompts

    PPOConfig, PPOTrainer = load_trl_ppo()
    tokenizer = AutoTokenizer.from_pretrained(s.policy_dir, padding_side="left")
    torch.manual_seed(s.seed)
    policy = load_causal_lm(s.policy_dir, trainable=True)
    ref = load_causal_lm(s.policy_dir)
    value = AutoModelForSequenceClassification.from_pretrained(s.policy_dir, num_labels=1)
    reward = AutoModelForSequenceClassification.from_pretrained(s.reward_dir)
    for model in (value, reward):
        model.config.pad_token_id = tokenizer.pad_token_id
    dataset = Dataset.from_dict({"input_ids": [tokenizer(p)["input_ids"] for p in default_prompts("train")]})
    args = PPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=s.batch,
        gradient_accumulation_steps=1,
        num_mini_batches=s.batch // s.minibatch_size,
        num_ppo_epochs=s.n_epochs,
        total_episodes=s.batch * s.iterations,
        local_rollout_forward_batch_size=s.batch,
        response_length=s.new_tokens,
        temperature=1.0,
        stop_token=None,
        missing_eos_penalty=None,
        learning_rate=s.learning_rate,
        kl_coef=s.kl_coef,
        kl_estimator="k1",
        cliprange=0.2,
        cliprange_value=0.2,
        vf_coef=0.1,
        gamma=1.0,
        lam=0.95,
        whiten_rewards=False,
        max_grad_norm=1.0,
        seed=s.seed,
        use_cpu=s.device == "cpu",
        bf16=s.dtype == "bfloat16",
        fp16=s.dtype == "float16",
        report_to="none",
        save_strategy="no",
        num_sample_generations=0,
        disable_tqdm=True,
    )
    times: list[float] = []

    class _Timer(TrainerCallback):
        def on_train_begin(self, *args, **kwargs) -> None:
            times.append(time.perf_counter())

        def on_step_end(self, *args, **kwargs) -> None:
            times.append(time.perf_counter())

    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref,
        reward_model=reward,
        value_model=value,
        train_dataset=dataset,
        callbacks=[_Timer()],
    )
    with contextlib.redirect_stdout(io.StringIO()):  # TRL prints every step's metrics
        trainer.train()
    return times[:-1]


def measure_training(
    train: Callable[[], list[float]], iterations: int, device: str, threads: int | None
) -> dict[str, Any]:
    """Run ``train`` (which returns the start time of each of its ``iterations`` iterations) under the memory
    sampler: the iteration times, setup time and peak memory (see the module docstring)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    cuda = device.startswith("cuda")
    baseline = _rss_bytes()
    with MemorySampler() as memory:
        start = time.perf_counter()
        times = train()
        if cuda:
            torch.cuda.synchronize()
        end = time.perf_counter()
    if len(times) != iterations:
        raise RuntimeError(f"expected {iterations} iterations, timed {len(times)}")
    return {
        "iteration_s": [b - a for a, b in zip(times, [*times[1:], end], strict=False)],
        "iteration_starts": times,
        "end": end,
        "setup_s": times[0] - start,
        "peak_memory_gib": (torch.cuda.max_memory_allocated() if cuda else memory.peak - baseline) / 2**30,
        "memory_kind": "cuda max_memory_allocated"
        if cuda
        else "peak RSS above the import baseline"
        + (
            f" (MALLOC_MMAP_THRESHOLD_={os.environ['MALLOC_MMAP_THRESHOLD_']})"
            if "MALLOC_MMAP_THRESHOLD_" in os.environ
            else ""
        ),
        "peak_rss_gib": memory.peak / 2**30,
        "baseline_rss_gib": baseline / 2**30,
    }


def run_case(case: str, settings: IterationSettings, out_dir: str) -> dict[str, Any]:
    """Train ``settings.iterations`` iterations of ``case`` in this process; iteration times and peak memory."""
    import importlib

    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    # Libraries are imported before the memory baseline: their footprint is not training memory.
    for module in ("agents.sb3", "text_gym", "stable_baselines3", *(("datasets",) if case == "trl" else ())):
        importlib.import_module(module)
    if case == "trl":
        load_trl_ppo()
    if settings.batch % settings.minibatch_size:
        raise ValueError(f"batch={settings.batch} must be a multiple of minibatch_size={settings.minibatch_size}")

    def train() -> list[float]:
        if case == "trl":
            return _train_trl(settings, out_dir)
        if case == "sb3":
            return _train_sb3(settings)
        return _train_ours(settings, separate_critic=case == "ours-separate-critic", lora=case == "ours-lora")

    row = measure_training(train, settings.iterations, settings.device, settings.threads)
    del row["iteration_starts"], row["end"]
    return {"case": case, **row}


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a fresh ("spawn") process, so its memory and warm-up are its own (started with
    ``MALLOC_MMAP_THRESHOLD_``, see the module docstring)."""
    import multiprocessing

    previous = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    os.environ["MALLOC_MMAP_THRESHOLD_"] = MALLOC_MMAP_THRESHOLD  # read by glibc when the child starts
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(function, args)
    finally:
        if previous is None:
            del os.environ["MALLOC_MMAP_THRESHOLD_"]
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = previous


def run_case_in_subprocess(case: str, settings: IterationSettings, out_dir: str) -> dict[str, Any]:
    """:func:`run_case` in a fresh process (:func:`in_fresh_process`)."""
    return in_fresh_process(run_case, case, settings, out_dir)
