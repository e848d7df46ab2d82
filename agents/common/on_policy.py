"""The learn loop of the on-policy algorithms (SB3's ``OnPolicyAlgorithm``): rollout, reward shaping, ``train``,
logging and checkpoints, update after update.

An algorithm subclasses ``OnPolicyAlgorithm``, sets ``config_class`` and ``uses_values``, and implements ``train``,
which turns one ``agents.RolloutBuffer`` and its shaped rewards into optimizer steps through ``run_epochs``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.common.base import BaseAlgorithm
from agents.common.callbacks import init_callback
from agents.common.merged_adapters import merged_adapters
from agents.common.reward_shaping import (
    kl_penalized_rewards,
    missing_eos_penalty,
    normalized_scores,
    rewards_summing_to,
    token_kl,
)
from agents.common.rollout import RolloutBuffer, collect_rollout
from agents.common.schedules import scheduled_learning_rate
from agents.common.updater import LossFn


class OnPolicyAlgorithm(BaseAlgorithm):
    """An agent that trains on its own fresh rollouts: ``learn`` alternates ``collect_rollouts`` and ``train``."""

    @property
    def group_size(self) -> int:
        """Consecutive sub-envs that share a prompt in each rollout (1: every sub-env draws its own)."""
        return 1

    def sample_prompt_indices(self) -> np.ndarray:
        """Prompt index of each sub-env ``[B]``: ``B / group_size`` uniform draws, each repeated ``group_size``."""
        k = self.group_size
        if self.n_envs % k:
            raise ValueError(f"n_envs={self.n_envs} must be a multiple of group_size={k}")
        draws = self.generators.prompts.integers(len(self.env.task.prompts), size=self.n_envs // k)
        return np.repeat(draws, k)

    def collect_rollouts(self) -> RolloutBuffer:
        """One batch of this process's episodes, with reference log-probs (and values if the algorithm uses them).

        The reference forward runs without gradients, after the rollout; at ``kl_coef=0`` (not adaptive) it runs
        only with ``measure_kl`` (``ref_logprobs`` is None otherwise). With LoRA and ``merge_lora_for_rollout``
        the episodes are sampled with the adapters merged into the base weights
        (``agents.common.merged_adapters``), restored bit for bit before the reference forward."""
        self.policy.eval()
        with self.autocast(), merged_adapters(self.policy, self.config.merge_lora_for_rollout):
            return collect_rollout(
                self.policy,
                self.env,
                self.sample_prompt_indices(),
                self.generators.sample,
                self.config.temperature,
                self.uses_values,
                self.ref_policy,
            )

    # -------------------------------------------------------- reward shaping
    def shaped_scores(self, buffer: RolloutBuffer) -> torch.Tensor:
        """Episode scores ``[B]`` after the missing-EOS penalty and, with ``normalize_scores``, the running
        normalisation (whose statistics are updated with every process's scores first)."""
        cfg = self.config
        scores = missing_eos_penalty(buffer.scores.clone(), buffer.stop_reasons, cfg.missing_eos_penalty)
        if cfg.normalize_scores:
            self.score_stats.update(self.reducer.gather(scores.double()).cpu().numpy())
            scores = normalized_scores(scores, float(self.score_stats.mean), self.score_stats.std)
        return scores

    def shaped_rewards(self, buffer: RolloutBuffer) -> torch.Tensor:
        """Per-token rewards ``[B, T]`` (at the agent's tokens, 0 elsewhere) whose sum over each episode is its
        ``shaped_scores`` score: with ``normalize_scores`` every step's env reward is divided by the running std
        of episode scores, and the missing-EOS penalty and the running mean come off the episode's last agent
        token (``reward_shaping.rewards_summing_to``)."""
        scores = self.shaped_scores(buffer)
        scale = self.score_stats.std if self.config.normalize_scores else 1.0
        return rewards_summing_to(buffer.rewards, buffer.response_mask, scores, scale)

    # ----------------------------------------------------------------- train
    def train(self, buffer: RolloutBuffer, rewards: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
        """Update the policy from one rollout. ``rewards`` ``[B, T]`` are the shaped per-token rewards
        (``shaped_rewards``), ``kl`` ``[B, T]`` the per-token KL estimate; both are zero except at the agent's
        tokens (``buffer.response_mask``). Returns the ``train/`` metrics."""
        raise NotImplementedError

    def run_epochs(self, buffer: RolloutBuffer, n_epochs: int, loss_fn: LossFn) -> dict[str, float]:
        """``n_epochs`` passes over ``buffer`` in shuffled minibatches (``MinibatchUpdater.run``)."""
        return self.updater.run(buffer.response_mask, n_epochs, loss_fn, self.n_updates)

    # ----------------------------------------------------------------- learn
    def learn(
        self,
        total_timesteps: int,
        callback=None,
        progress_bar: bool = True,
        resume_from: str | os.PathLike | None = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str | None = None,
    ) -> OnPolicyAlgorithm:
        """Train until ``num_timesteps`` (generated tokens, summed over sub-envs and processes) reaches
        ``total_timesteps``.

        Args:
            callback: an SB3 ``BaseCallback``, a list of them, or a callable ``(locals, globals) -> bool``; its
                ``on_step`` runs once per update (after the rollout) and stops training by returning False (on
                any process: all stop).
            progress_bar: show a tqdm bar of generated tokens (main process only).
            resume_from: a checkpoint folder, or a ``checkpoint_dir`` (its latest checkpoint): restores weights,
                optimizer, KL controller, baselines, each process's RNG states and counters, and continues the
                same run.
            reset_num_timesteps: start counting from 0 (ignored when resuming).
            tb_log_name: tensorboard run name (default: the class name, e.g. ``PPO`` -> ``PPO_1``).
        """
        if self.env is None:
            raise ValueError("this agent has no env; pass env= to the constructor or call set_env(env) first")
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int) or total_timesteps < 1:
            raise ValueError(f"total_timesteps must be an integer >= 1, got {total_timesteps!r}")
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        elif reset_num_timesteps:
            self.num_timesteps = self.n_updates = 0
        cfg = self.config
        self.training_logger.configure(
            cfg.verbose,
            cfg.tensorboard_log,
            tb_log_name or type(self).__name__,
            reset_num_timesteps and not resume_from,
        )
        callback = init_callback(callback, self)
        if callback is not None:
            callback.on_training_start(locals(), globals())
        bar = tqdm(
            total=total_timesteps,
            initial=min(self.num_timesteps, total_timesteps),
            unit="tok",
            disable=not (progress_bar and self.is_main_process),
            desc=type(self).__name__,
        )
        try:
            while self.num_timesteps < total_timesteps:
                lr = scheduled_learning_rate(cfg.learning_rate, cfg.lr_schedule, self.num_timesteps, total_timesteps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                if callback is not None:
                    callback.on_rollout_start()
                buffer = self.collect_rollouts()
                tokens = int(self.reducer.sum(torch.tensor([buffer.num_tokens], device=self.device)))
                self.num_timesteps += tokens
                if callback is not None:
                    callback.update_locals(locals())
                    if self.reducer.any(not callback.on_step()):
                        break
                    callback.on_rollout_end()
                metrics = self._update(buffer)
                metrics["train/learning_rate"] = lr
                self.n_updates += 1
                self.training_logger.log(
                    metrics,
                    buffer,
                    self.env.task.prompt_fields(buffer.prompt_index),
                    self.n_updates,
                    self.num_timesteps,
                )
                bar.update(min(tokens, total_timesteps - bar.n))
                postfix = {"score": f"{metrics['rollout/score_mean']:.3f}"}
                if "objective/kl" in metrics:
                    postfix["kl"] = f"{metrics['objective/kl']:.2f}"
                bar.set_postfix(postfix)
                if cfg.checkpoint_dir is not None and self.n_updates % cfg.checkpoint_freq == 0:
                    self.save_checkpoint()
        finally:
            bar.close()
        if callback is not None:
            callback.on_training_end()
        return self

    def _update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """Shape the rewards of one rollout and train on it. Returns the metrics (means over all processes)."""
        rollout = {
            "rollout/score_mean": float(buffer.scores.mean()),
            "objective/entropy": float(-buffer.logprobs.sum(1).mean()),
            "time/rollout_s": buffer.rollout_s,
        }
        kl = token_kl(buffer.logprobs, buffer.ref_logprobs, buffer.response_mask, self.config.kl_estimator)
        if buffer.ref_logprobs is not None:  # no reference: no penalty, and no objective/kl (as TRL with beta=0)
            log_ratio = (buffer.logprobs - buffer.ref_logprobs) * buffer.response_mask
            rollout["objective/kl"] = float(log_ratio.sum(1).mean())
        rollout = self.reducer.mean_floats({**rollout, "kl_estimate": float(kl.sum(1).mean())})
        kl_mean = rollout.pop("kl_estimate")
        metrics = {**rollout, "objective/kl_coef": self.kl_ctl.value}
        tokens = float(self.reducer.sum(torch.tensor([float(buffer.num_tokens)], device=self.device)))
        metrics["time/tokens_per_sec"] = tokens / max(metrics["time/rollout_s"], 1e-9)  # all processes together
        start = time.perf_counter()
        rewards = self.shaped_rewards(buffer)
        returns = kl_penalized_rewards(rewards.sum(1), kl.sum(1), self.kl_ctl.value)
        metrics["objective/rlhf_reward"] = float(self.reducer.mean(returns.mean().double()))
        train_metrics = self.train(buffer, rewards, kl)
        metrics.update({f"train/{key}": value for key, value in train_metrics.items()})
        self.kl_ctl.update(kl_mean, buffer.batch_size * self.num_processes)
        skipped_all = train_metrics["optimizer_steps"] == 0
        self.consecutive_skips = self.consecutive_skips + 1 if skipped_all else 0
        metrics["train/skipped_updates"] = float(skipped_all)
        if self.consecutive_skips >= self.config.max_skipped_updates:
            raise RuntimeError(
                f"{self.consecutive_skips} consecutive updates were skipped for non-finite losses "
                "or gradients; stopping (lower learning_rate, check the reward model)"
            )
        metrics["time/update_s"] = time.perf_counter() - start
        return metrics
