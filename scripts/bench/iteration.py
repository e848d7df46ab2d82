"""One PPO iteration (rollout + update): wall time and peak memory of our PPO (full fine-tuning and LoRA), TRL's PPO
trainer and stock SB3 PPO.

Every case runs in a fresh process (``run_case_in_subprocess``, scripts/bench/runner.py), so peak memory is its
own (scripts/bench/memory.py: on CPU the peak RSS above the import baseline, with ``MALLOC_MMAP_THRESHOLD_=131072``;
on CUDA ``torch.cuda.max_memory_allocated``). Each case trains ``iterations`` PPO iterations of ``batch`` episodes
of exactly ``new_tokens`` tokens (no EOS stopping on any side; sampling at temperature 1, no top-k / top-p) and
records the wall time of each (scripts/bench/phases.py's iteration marks); the first is a warm-up.

Matched settings on every side: the same policy weights and prompts (the default train prompts), the same reward
model (``reward_dir``: a sequence classifier with a scalar head, scoring prompt + completion), ``n_epochs`` passes of
minibatches of ``minibatch_size`` episodes (one optimizer step each), AdamW at ``learning_rate``, clip range 0.2,
value clip 0.2, vf_coef 0.1, gamma 1, lambda 0.95, per-token k1 KL penalty ``kl_coef`` to a frozen reference copy.
Cases:

- ``ours``: ``agents.PPO`` (value head on the shared backbone, the default; every ``ours*`` case rolls out
  with ``rollout_cache``);
- ``ours-separate-critic``: ``agents.PPO`` with ``separate_critic=True`` (a second backbone for values, the
  architecture TRL uses);
- ``ours-lora``: ``agents.PPO`` with LoRA adapters (``lora_r``, alpha ``2 * lora_r``, all linear layers) and
  the adapter-disabled base as the reference;
- ``trl``: ``trl.experimental.ppo.PPOTrainer`` (trl < 1.13, where it still exists) with a separate value model
  initialised from the policy (scripts/bench/trl_cases.py);
- ``sb3``: ``stable_baselines3.PPO`` with ``agents.sb3.LMActorCriticPolicy`` and
  ``agents.sb3.KLPenaltyCallback`` on ``agents.sb3.SB3VecEnv`` (``n_steps = new_tokens``), meant for a
  tiny model (SB3 re-reads the whole context every step: no KV cache).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from scripts.bench.measure import CaseSettings, measure_training
from scripts.bench.models import reward_model_spec, textgen_env_kwargs
from scripts.bench.phases import PhaseClock
from scripts.bench.runner import run_in_fresh_process
from scripts.bench.trl_cases import load_trl_ppo, ppo_trainer, train_quietly

CASES = ("ours", "ours-separate-critic", "trl", "sb3", "ours-lora")


@dataclass
class IterationSettings(CaseSettings):
    """What one case trains (see the module docstring; the shared fields are ``CaseSettings``')."""

    batch: int = 16
    new_tokens: int = 32
    iterations: int = 3
    n_epochs: int = 2
    minibatch_size: int = 8
    kl_coef: float = 0.05


def _train_ours(s: IterationSettings, clock: PhaseClock, separate_critic: bool, lora: bool) -> None:
    from agents import PPO

    lora_fields = {"lora_r": s.lora_r, "lora_alpha": 2.0 * s.lora_r} if lora else {}
    agent = PPO(
        s.policy_dir,
        "TextGen-v0",
        env_kwargs=textgen_env_kwargs(s.policy_dir, reward_model_spec(s.reward_dir), s.new_tokens),
        n_envs=s.batch,
        n_epochs=s.n_epochs,
        minibatch_size=s.minibatch_size,
        learning_rate=s.learning_rate,
        kl_coef=s.kl_coef,
        seed=s.seed,
        device=s.device,
        compute_dtype=s.dtype,
        separate_critic=separate_critic,
        gradient_checkpointing=s.gradient_checkpointing,
        rollout_cache=s.rollout_cache,
        **lora_fields,
    )
    agent.learn(s.batch * s.new_tokens * s.iterations, callback=clock.sb3_callback(), progress_bar=False)


def matched_sb3_ppo(env: Any, n_steps: int, s: Any) -> Any:
    """Stock ``stable_baselines3.PPO`` with our LM policy on ``env`` (an ``agents.sb3.SB3VecEnv``), set like our PPO
    cases: ``n_steps`` steps per sub-env and rollout, minibatches of ``s.minibatch_size`` sub-envs' rollouts,
    ``s.n_epochs`` epochs at ``s.learning_rate``, no discount, GAE lambda 0.95, clipping 0.2 (policy and value),
    value coefficient 0.1, no entropy bonus, gradient norm 1. ``s`` also gives ``seed``, ``device`` and the policy
    folder ``policy_dir``."""
    from stable_baselines3 import PPO

    from agents.sb3 import LMActorCriticPolicy

    return PPO(
        LMActorCriticPolicy,
        env,
        n_steps=n_steps,
        batch_size=s.minibatch_size * n_steps,
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


def _train_sb3(s: IterationSettings, clock: PhaseClock) -> None:
    import torch

    from agents.sb3 import KLPenaltyCallback, SB3VecEnv

    torch.manual_seed(s.seed)
    env_kwargs = textgen_env_kwargs(s.policy_dir, reward_model_spec(s.reward_dir), s.new_tokens)
    env = SB3VecEnv("TextGen-v0", num_envs=s.batch, device=s.device, **env_kwargs)
    model = matched_sb3_ppo(env, s.new_tokens, s)
    callbacks = [KLPenaltyCallback(kl_coef=s.kl_coef), clock.sb3_callback()]
    model.learn(s.batch * s.new_tokens * s.iterations, callback=callbacks)


def run_case(case: str, settings: IterationSettings, out_dir: str) -> dict[str, Any]:
    """Train ``settings.iterations`` iterations of ``case`` (from ``CASES``) in this process: iteration times,
    setup time and peak memory (scripts/bench/measure.py)."""
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    if settings.batch % settings.minibatch_size:
        raise ValueError(f"batch={settings.batch} must be a multiple of minibatch_size={settings.minibatch_size}")
    # Libraries are imported before the memory baseline: their footprint is not training memory.
    for module in ("agents.sb3", "text_gym", "stable_baselines3", *(("datasets",) if case == "trl" else ())):
        importlib.import_module(module)
    if case == "trl":
        load_trl_ppo()

    def train(clock: PhaseClock) -> None:
        if case == "trl":
            train_quietly(ppo_trainer(settings, out_dir, [clock.trainer_callback()]))
        elif case == "sb3":
            _train_sb3(settings, clock)
        else:
            _train_ours(settings, clock, separate_critic=case == "ours-separate-critic", lora=case == "ours-lora")

    return {"case": case, **measure_training(train, settings.iterations, settings.device, settings.threads)}


def run_case_in_subprocess(case: str, settings: IterationSettings, out_dir: str) -> dict[str, Any]:
    """``run_case`` in a fresh process (scripts/bench/runner.py)."""
    return run_in_fresh_process(run_case, case, settings, out_dir)
