"""What every algorithm shares: the policy / reference / optimizer on an ``accelerate`` engine, the learn loop,
``save`` / ``load`` / ``predict`` (SB3's surface), checkpoints and resume.

Other concerns have their own homes: env building (:mod:`agents.common.envs`), the process topology and precision
(:mod:`agents.common.distributed`), the LR schedule (:mod:`agents.common.schedules`), SB3 callbacks
(:mod:`agents.common.callbacks`),
logging (:mod:`agents.common.logger`), checkpoint folders and RNG state (:mod:`agents.common.checkpoint`).

An algorithm subclasses :class:`BaseAlgorithm`, sets ``config_class`` and ``uses_values``, and implements
:meth:`BaseAlgorithm.train`, which turns one :class:`agents.RolloutBuffer` into optimizer steps through
:meth:`BaseAlgorithm.run_epochs`.

Data parallelism: under ``accelerate launch`` / ``torchrun`` every process builds the same agent; each runs
``n_envs`` episodes per rollout with its own prompts and samples (seeds offset by the process index), the update
averages gradients (DDP), and every statistic that steers training (KL controller, whitening, score statistics,
skip decisions, the timestep count) is computed over all processes, so all take the same branches. The global
batch is ``n_envs x num_processes`` episodes; only the main process logs, shows progress and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd
from tqdm.auto import tqdm

from agents.common.action_masks import check_action_masks, mask_logprobs, vocabulary_restriction
from agents.common.callbacks import init_callback
from agents.common.checkpoint import (
    TRAINING_STATE,
    global_rng_state,
    prune_checkpoints,
    resolve_checkpoint,
    set_global_rng_state,
)
from agents.common.config import AlgorithmConfig
from agents.common.distributed import Reducer, make_accelerator
from agents.common.envs import make_vector_env
from agents.common.kl import AdaptiveKLController, FixedKLController, kl_estimate
from agents.common.logger import CONVERSATIONS_FIELD, TrainingLogger
from agents.common.policy import AdapterDisabledReference, LMPolicy, is_adapter_folder, position_ids_from_mask
from agents.common.rollout import RolloutBuffer, collect_rollout
from agents.common.schedules import scheduled_learning_rate
from reward_models import check_fields_available, resolve_dtype, write_folder_atomically
from text_gym import TextGenChatVectorEnv, TextGenVectorEnv

AGENT_FILE = "text_gym_agent.json"
FINISHED_STOP_REASONS = ("eos", "max_turns", "user_ended")
"""Episode stop reasons that do not get ``missing_eos_penalty``: the agent ended it (EOS) or the conversation did (a
chat env's last turn, or the user ending it)."""
LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def adamw(params: list[torch.nn.Parameter], lr: float, eps: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where the parameters' device has one (CPU since torch 2.4, CUDA), else the
    default implementation. Fused is TRL's default too: one pass over each tensor instead of foreach's several, about
    6x faster on CPU for SmolLM2-135M (0.7 -> 0.12 s per step, 1 thread), and without foreach's model-sized
    temporary (0.5 GiB less at the step)."""
    try:
        return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # "`fused=True` requires all the params to be floating point Tensors of supported devices"
        return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay)


class BaseAlgorithm:
    """Base class of :class:`agents.PPO` and :class:`agents.REINFORCE`.

    Args:
        policy: hub id, local folder (also one written by :meth:`save`), ``"smollm2"`` (the packaged
            SmolLM2-135M-Instruct, offline) or a ``transformers`` ``PreTrainedModel``.
        env: env id (``"TextGen-v0"``), a ``TextGenEnv`` or any ``TextGenVectorEnv`` (one in another autoreset
            mode is rebuilt with the same settings in ``DISABLED`` mode); ``None`` to only predict (set one later
            with :meth:`set_env`).
        config: the algorithm's config dataclass; keyword arguments override its fields (SB3 style:
            ``PPO("smollm2", "TextGen-v0", learning_rate=1e-5)``).
        env_kwargs: constructor arguments when ``env`` is an id (``reward_model``, ``prompts``,
            ``max_new_tokens``...); ``vocab_size`` defaults to the policy's LM-head size and ``tokenizer`` to
            the policy's tokenizer.
        peft_config: train LoRA adapters (a ``peft.LoraConfig``) instead of every weight; the KL reference is then
            the same model with its adapters disabled. The config's ``lora_r`` > 0 builds one from the ``lora_*``
            fields instead.
    """

    config_class: type[AlgorithmConfig] = AlgorithmConfig
    uses_values = False

    def __init__(
        self,
        policy: str | os.PathLike | torch.nn.Module,
        env: str | gym.Env | None = None,
        config: AlgorithmConfig | None = None,
        env_kwargs: dict[str, Any] | None = None,
        peft_config: Any | None = None,
        **overrides: Any,
    ) -> None:
        unknown = set(overrides) - self.config_class.field_names()
        if unknown:
            raise TypeError(
                f"unknown {self.config_class.__name__} fields {sorted(unknown)}; "
                f"valid: {sorted(self.config_class.field_names())}"
            )
        self.config = cfg = dataclasses.replace(config or self.config_class(), **overrides)
        if peft_config is not None and cfg.lora_r > 0:
            raise ValueError(f"pass either peft_config or lora_r > 0 (got both; lora_r={cfg.lora_r})")
        if peft_config is None and not is_adapter_folder(policy):
            peft_config = cfg.lora_config()  # a saved LoRA agent's folder brings its own adapters
        self.accelerator = make_accelerator(cfg.device, cfg.dtype)
        self.reducer = Reducer(self.accelerator)
        self.device = self.accelerator.device
        self.process_index, self.num_processes = self.accelerator.process_index, self.accelerator.num_processes
        self.is_main_process = self.accelerator.is_main_process
        self.compute_dtype = resolve_dtype(cfg.dtype)
        torch.manual_seed(cfg.seed)  # the same initial weights on every process
        policy_module = LMPolicy.from_pretrained(
            policy,
            dtype=resolve_dtype(cfg.torch_dtype),
            peft_config=peft_config,
            value_head=self.uses_values,
            separate_critic=getattr(cfg, "separate_critic", False),
            rollout_cache=cfg.rollout_cache,
        )
        if not policy_module.is_peft and cfg.torch_dtype != "float32":
            raise ValueError(
                f"torch_dtype={cfg.torch_dtype!r} needs LoRA (lora_r > 0 or peft_config): full fine-tuning keeps "
                "float32 weights; use dtype='bfloat16' to compute in bfloat16"
            )
        if cfg.gradient_checkpointing:  # active in train mode only: the update, not the rollout
            lm = policy_module.causal_lm
            # transformers 5.x renamed it (the old name warns); earlier versions have only the old one
            enable = getattr(lm, "activation_checkpointing_enable", None) or lm.gradient_checkpointing_enable
            enable({"use_reentrant": False})
        self.policy = policy_module.to(self.device)
        self.ref_policy = None  # no penalty and nothing measured: no frozen copy, no reference forward
        if cfg.kl_coef > 0 or cfg.adaptive_kl or cfg.measure_kl:
            self.ref_policy = (
                AdapterDisabledReference(self.policy) if self.policy.is_peft else self.policy.reference_copy()
            )
        optimizer = adamw(self.policy.trainable_parameters(), cfg.learning_rate, cfg.adam_eps, cfg.weight_decay)
        # The wrapped module (DDP across processes) computes the training forward; self.policy stays the bare
        # module for rollouts, saving and inspection.
        self.model, self.optimizer = self.accelerator.prepare(self.policy, optimizer)
        self.env_id = env if isinstance(env, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        self.env = None
        if env is not None:
            self.set_env(env)
        self.kl_ctl = (
            AdaptiveKLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon)
            if cfg.adaptive_kl
            else FixedKLController(cfg.kl_coef)
        )
        self.training_logger = TrainingLogger(
            self.reducer, self.is_main_process, cfg.gold_reward_model, cfg.log_samples_every, cfg.n_logged_samples
        )
        gold = self.training_logger.gold_reward_model
        if gold is not None and self.env is not None:
            chat = [CONVERSATIONS_FIELD] if isinstance(self.env, TextGenChatVectorEnv) else []
            check_fields_available(gold, [*self.env.task.field_names, *chat], "gold_reward_model")
        self.score_stats = RunningMeanStd(shape=())
        seed = cfg.seed + self.process_index  # each process samples its own prompts and tokens
        self.sample_generator = torch.Generator(self.device).manual_seed(seed)
        self.shuffle_generator = torch.Generator().manual_seed(seed + 1)
        self.prompt_rng = np.random.default_rng(seed)
        self.num_timesteps = 0
        self.n_updates = 0
        self.consecutive_skips = 0

    @property
    def logger(self):
        """SB3's logger of the current ``learn`` call (what callbacks record into)."""
        return self.training_logger.sb3_logger

    @property
    def ep_info_buffer(self):
        """The last 100 episodes' ``{"r": score, "l": length}`` (SB3's name; main process only)."""
        return self.training_logger.ep_info_buffer

    # ------------------------------------------------------------------ env
    def make_env(self, env: str | gym.Env) -> TextGenVectorEnv:
        """The vector env this agent acts in for ``env`` (an id is built with ``env_kwargs``, ``n_envs`` sub-envs,
        the policy's LM-head size as ``vocab_size`` and, unless given, the policy's tokenizer)."""
        env_kwargs = None
        if isinstance(env, str):
            env_kwargs = dict(self.env_kwargs)
            if self.policy.tokenizer is not None:
                env_kwargs.setdefault("tokenizer", self.policy.tokenizer)
        return make_vector_env(env, self.config.n_envs, self.policy.vocab_size, str(self.device), env_kwargs)

    def set_env(self, env: str | gym.Env) -> None:
        """Use ``env`` for training (see the class docstring for what it can be)."""
        self.env = self.make_env(env)
        if self.env.device.type != self.device.type:
            raise ValueError(
                f"the env keeps its tokens on {self.env.device} but the agent runs on {self.device}; "
                f"build the env with device={str(self.device)!r}"
            )
        self.policy.num_actions = int(self.env.single_action_space.n)
        if self.ref_policy is not None:
            self.ref_policy.num_actions = self.policy.num_actions
        if self.policy.tokenizer is None:  # saved next to the weights
            self.policy.tokenizer = self.env.task.tokenizer
        self.n_envs = self.env.num_envs

    def get_env(self):
        """The training vector env (SB3's name)."""
        return self.env

    def autocast(self):
        """The accelerator's autocast to the configured compute dtype (a no-op for float32)."""
        return self.accelerator.autocast()

    # ------------------------------------------------------------ algorithm
    @property
    def group_size(self) -> int:
        """Consecutive sub-envs that share a prompt in each rollout (1: every sub-env draws its own)."""
        return 1

    def sample_prompt_indices(self) -> np.ndarray:
        """Prompt index of each sub-env ``[B]``: ``B / group_size`` uniform draws, each repeated ``group_size``."""
        k = self.group_size
        if self.n_envs % k:
            raise ValueError(f"n_envs={self.n_envs} must be a multiple of group_size={k}")
        draws = self.prompt_rng.integers(len(self.env.task.prompts), size=self.n_envs // k)
        return np.repeat(draws, k)

    def collect_rollouts(self) -> RolloutBuffer:
        """One batch of this process's episodes, with reference log-probs (and values if the algorithm uses them).

        The reference forward runs without gradients, after the rollout; at ``kl_coef=0`` (not adaptive) it runs
        only with ``measure_kl`` (``ref_logprobs`` is None otherwise)."""
        self.policy.eval()
        with self.autocast():
            return collect_rollout(
                self.policy,
                self.env,
                self.sample_prompt_indices(),
                self.sample_generator,
                self.config.temperature,
                self.uses_values,
                self.ref_policy,
            )

    def shaped_scores(self, buffer: RolloutBuffer) -> torch.Tensor:
        """Episode scores ``[B]`` after the missing-EOS penalty and the optional running normalisation (whose
        statistics are updated with every process's scores).

        The penalty applies to episodes whose stop reason is not in ``FINISHED_STOP_REASONS``: a completion cut at
        ``max_new_tokens`` or a stop string, a conversation that ran out of context (``"context_full"``); not to one
        that ended at EOS, at ``max_turns`` or because the user ended it."""
        cfg = self.config
        scores = buffer.scores.clone()
        if cfg.missing_eos_penalty is not None:
            no_eos = torch.as_tensor(
                [r not in FINISHED_STOP_REASONS for r in buffer.stop_reasons], device=scores.device
            )
            scores = scores - cfg.missing_eos_penalty * no_eos.float()
        if cfg.normalize_scores:
            self.score_stats.update(self.reducer.gather(scores.double()).cpu().numpy())
            scores = (scores - float(self.score_stats.mean)) / math.sqrt(float(self.score_stats.var) + 1e-8)
        return scores

    def shaped_rewards(self, buffer: RolloutBuffer) -> torch.Tensor:
        """Per-token rewards ``[B, T]`` (at the agent's tokens, 0 elsewhere) whose sum over each episode is its
        :meth:`shaped_scores` score: with ``normalize_scores`` every step's env reward is divided by the running
        std of episode scores, and the missing-EOS penalty and the running mean come off the episode's last agent
        token. A single-turn env's rewards are thus the shaped score at the last token; a chat env's per-turn
        rewards stay at the tokens that ended their turns."""
        scores = self.shaped_scores(buffer)
        rewards = buffer.rewards.clone()
        if self.config.normalize_scores:
            rewards = rewards / math.sqrt(float(self.score_stats.var) + 1e-8)
        positions = torch.arange(rewards.shape[1], device=rewards.device)
        last = (positions * buffer.response_mask).argmax(1, keepdim=True)  # each episode's last agent token
        earlier = rewards.sum(1, keepdim=True) - rewards.gather(1, last)
        return rewards.scatter(1, last, scores.unsqueeze(1) - earlier)

    def train(self, buffer: RolloutBuffer, rewards: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
        """Update the policy from one rollout. ``rewards`` ``[B, T]`` are the shaped per-token rewards
        (:meth:`shaped_rewards`), ``kl`` ``[B, T]`` the per-token KL estimate; both are zero except at the agent's
        tokens (``buffer.response_mask``). Returns the ``train/`` metrics."""
        raise NotImplementedError

    def run_epochs(self, buffer: RolloutBuffer, n_epochs: int, loss_fn: LossFn) -> dict[str, float]:
        """``n_epochs`` passes over the batch in shuffled minibatches of ``minibatch_size`` episodes (per process),
        each one optimizer step with ``gradient_accumulation_steps`` micro-batches and gradient clipping.

        ``loss_fn(indices, token_count)`` returns the loss of the episodes ``indices`` and a dict of 0-dim metric
        tensors; each is a sum over the micro-batch's tokens divided by ``token_count`` (the minibatch's
        token count over all processes / the number of processes, see :mod:`agents.common.losses`), so accumulated
        micro-batches         and DDP's gradient average give the gradient of the global minibatch's token mean.
        A minibatch whose loss (on any process) or gradient norm is not finite is skipped by every process
        (warning, ``train/skipped_steps``). Returns the metrics (token means over each global minibatch) averaged
        over minibatches, plus
        ``grad_norm``, ``skipped_steps`` and ``optimizer_steps``.
        """
        cfg = self.config
        B = buffer.batch_size
        size = min(cfg.minibatch_size, B)
        mask = buffer.response_mask
        totals: dict[str, float] = {}
        steps = skipped = 0
        self.model.train()
        for _ in range(n_epochs):
            order = torch.randperm(B, generator=self.shuffle_generator).to(self.device)
            for begin in range(0, B, size):
                minibatch = order[begin : begin + size]
                micro_batches = minibatch.tensor_split(min(cfg.gradient_accumulation_steps, len(minibatch)))
                token_count = self.reducer.mean(mask[minibatch].sum())
                self.optimizer.zero_grad(set_to_none=True)
                metrics: dict[str, torch.Tensor] = {}
                for i, micro in enumerate(micro_batches):
                    last = i == len(micro_batches) - 1
                    with self.accelerator.no_sync(self.model) if not last else contextlib.nullcontext():
                        loss, micro_metrics = loss_fn(micro, token_count)
                        self.accelerator.backward(loss)
                    # Every term is a sum over the micro-batch's tokens / token_count: the sum over micro-batches
                    # is this process's share of the minibatch's token mean.
                    for key, value in {"loss": loss, **micro_metrics}.items():
                        metrics[key] = metrics.get(key, 0.0) + value.detach().float()
                grad_norm = self.accelerator.clip_grad_norm_(self.policy.trainable_parameters(), cfg.max_grad_norm)
                values = self.reducer.mean_floats({key: float(value) for key, value in metrics.items()})
                values["grad_norm"] = float(grad_norm)
                if not all(math.isfinite(v) for v in (values["loss"], values["grad_norm"])):
                    warnings.warn(
                        f"update {self.n_updates}: non-finite loss ({values['loss']}) or gradient norm "
                        f"({values['grad_norm']}); this optimizer step is skipped",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.accelerator.scaler is not None:
                        self.accelerator.scaler.update()  # float16: the next step uses a smaller loss scale
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

    # ---------------------------------------------------------------- learn
    def learn(
        self,
        total_timesteps: int,
        callback=None,
        progress_bar: bool = True,
        resume_from: str | os.PathLike | None = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str | None = None,
    ) -> BaseAlgorithm:
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
        mask = buffer.response_mask
        rollout = {
            "rollout/score_mean": float(buffer.scores.mean()),
            "objective/entropy": float(-buffer.logprobs.sum(1).mean()),
            "time/rollout_s": buffer.rollout_s,
        }
        if buffer.ref_logprobs is None:  # no reference: no penalty, and no objective/kl (as TRL with beta=0)
            kl = torch.zeros_like(buffer.logprobs)
        else:
            kl = kl_estimate(buffer.logprobs, buffer.ref_logprobs, self.config.kl_estimator) * mask
            rollout["objective/kl"] = float(((buffer.logprobs - buffer.ref_logprobs) * mask).sum(1).mean())
        rollout = self.reducer.mean_floats({**rollout, "kl_estimate": float(kl.sum(1).mean())})
        kl_mean = rollout.pop("kl_estimate")
        metrics = {**rollout, "objective/kl_coef": self.kl_ctl.value}
        tokens = float(self.reducer.sum(torch.tensor([float(buffer.num_tokens)], device=self.device)))
        metrics["time/tokens_per_sec"] = tokens / max(metrics["time/rollout_s"], 1e-9)  # all processes together
        start = time.perf_counter()
        rewards = self.shaped_rewards(buffer)
        metrics["objective/rlhf_reward"] = float(
            self.reducer.mean((rewards.sum(1) - self.kl_ctl.value * kl.sum(1)).mean().double())
        )
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

    # ---------------------------------------------------------------- predict
    @torch.no_grad()
    def predict(
        self,
        observation: dict[str, np.ndarray],
        state=None,
        episode_start=None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, None]:
        """Next token for one observation (``input_ids`` / ``attention_mask`` ``[L]``) or a batch ``[B, L]``.

        Returns ``(actions, None)`` like SB3: an int64 array ``[B]`` (or a 0-dim array for one observation);
        ``deterministic`` takes the most likely token, otherwise one is sampled at the config temperature. Only
        allowed tokens are returned: those of ``action_masks`` (bool ``[V]`` or ``[B, V]``, sb3-contrib's
        MaskablePPO argument) if given, else those the agent's env allows in ``observation`` (its vocabulary
        restriction), else any.
        """
        ids = torch.as_tensor(np.asarray(observation["input_ids"]), device=self.device)
        mask = torch.as_tensor(np.asarray(observation["attention_mask"]), device=self.device)
        single = ids.ndim == 1
        ids, mask = ids.view(-1, ids.shape[-1]), mask.view(-1, mask.shape[-1])
        restriction = vocabulary_restriction(self.env)
        if action_masks is not None:
            action_masks = check_action_masks(action_masks, ids.shape[0], self.policy.vocab_size, self.device)
        elif restriction is not None:
            action_masks = restriction(ids, mask)  # on the env's layout of the observation
        # Attended tokens only (the layout pads inside the row); the last one predicts the next token.
        order = torch.argsort(mask, dim=1, stable=True)
        ids, mask = ids.gather(1, order), mask.gather(1, order)
        self.policy.eval()
        with self.autocast():
            logprobs, _, _ = self.policy.next_token_logprobs(
                ids, mask, position_ids_from_mask(mask), None, self.config.temperature
            )
        if action_masks is not None:
            logprobs = mask_logprobs(logprobs, action_masks)
        if deterministic:
            actions = logprobs.argmax(-1)
        else:
            actions = torch.multinomial(logprobs.exp(), 1, generator=self.sample_generator).squeeze(1)
        actions = actions.cpu().numpy()
        return (actions[0] if single else actions), None

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike, merge_adapters: bool = False) -> None:
        """Write an HF-style folder: the LM (``AutoModelForCausalLM.from_pretrained(path)`` loads it) or, with LoRA,
        a PEFT adapter folder (``merge_adapters=True``: the merged full LM instead, for inference); the tokenizer,
        the value head / critic, and ``text_gym_agent.json`` (algorithm, config, env id)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.policy.save_pretrained(path, merge_adapters=merge_adapters)
        env_kwargs = {k: v for k, v in self.env_kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}
        config = dataclasses.asdict(self.config)
        if merge_adapters:
            config["lora_r"] = 0
        record = {"algorithm": type(self).__name__, "config": config, "env": self.env_id, "env_kwargs": env_kwargs}
        (path / AGENT_FILE).write_text(json.dumps(record, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike, env: str | gym.Env | None = None, **overrides: Any) -> BaseAlgorithm:
        """Rebuild an agent saved with :meth:`save`; its weights also become the new KL reference (full fine-tuning;
        a LoRA agent keeps its base as the reference and trains its restored adapters further).

        ``env`` is not restored (as in SB3): pass one to keep training. ``overrides`` replace config fields.
        """
        record = json.loads((Path(path) / AGENT_FILE).read_text())
        if record["algorithm"] != cls.__name__:
            raise ValueError(f"{path} holds a {record['algorithm']} agent; load it with {record['algorithm']}.load")
        config = cls.config_class(**record["config"])
        return cls(
            str(path),
            env,
            config=config,
            env_kwargs=record["env_kwargs"] if isinstance(env, str) else None,
            **overrides,
        )

    # ----------------------------------------------------------- checkpoints
    def algorithm_state(self) -> dict[str, Any]:
        """Algorithm-specific state a checkpoint must carry (e.g. a moving-average baseline)."""
        return {}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`algorithm_state` returned."""

    def _rng_state(self) -> dict[str, Any]:
        return {
            "global": global_rng_state(),
            "sample": self.sample_generator.get_state(),
            "shuffle": self.shuffle_generator.get_state(),
            "prompts": self.prompt_rng.bit_generator.state,
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint_dir/checkpoint-<n_updates>`` atomically and prune old checkpoints. Called by every
        process (each contributes its RNG states); the main process writes and returns the folder, the others
        return None once it is written."""
        cfg = self.config
        rng_states = self.reducer.gather_objects([self._rng_state()])
        target = None
        if self.is_main_process:
            scaler = self.accelerator.scaler
            state = {
                "num_timesteps": self.num_timesteps,
                "n_updates": self.n_updates,
                "consecutive_skips": self.consecutive_skips,
                "logger": self.training_logger.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "grad_scaler": None if scaler is None else scaler.state_dict(),
                "kl_ctl": self.kl_ctl.state_dict(),
                "algorithm": self.algorithm_state(),
                "score_stats": {
                    "mean": self.score_stats.mean,
                    "var": self.score_stats.var,
                    "count": self.score_stats.count,
                },
                "rng": rng_states,
            }

            def write(folder: Path) -> None:
                self.save(folder)
                torch.save(state, folder / TRAINING_STATE)

            target = write_folder_atomically(Path(cfg.checkpoint_dir) / f"checkpoint-{self.n_updates:06d}", write)
            prune_checkpoints(cfg.checkpoint_dir, cfg.keep_checkpoints)
        self.accelerator.wait_for_everyone()
        return target

    def load_checkpoint(self, path: str | os.PathLike) -> Path:
        """Restore everything :meth:`save_checkpoint` wrote (``path``: a checkpoint or a ``checkpoint_dir``), on
        every process (each takes its own RNG states; the number of processes must be the same)."""
        folder = resolve_checkpoint(path)
        state = torch.load(folder / TRAINING_STATE, map_location="cpu", weights_only=False)
        rng_states = state["rng"]
        if len(rng_states) != self.num_processes:
            raise ValueError(
                f"{folder} was written by a run with {len(rng_states)} processes; resume it with "
                f"{len(rng_states)} processes, not {self.num_processes}"
            )
        self.policy.load_weights(folder)
        self.num_timesteps, self.n_updates = state["num_timesteps"], state["n_updates"]
        self.consecutive_skips = state["consecutive_skips"]
        self.training_logger.load_state_dict(state["logger"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state["grad_scaler"] is not None and self.accelerator.scaler is not None:
            self.accelerator.scaler.load_state_dict(state["grad_scaler"])
        self.kl_ctl.load_state_dict(state["kl_ctl"])
        self.load_algorithm_state(state["algorithm"])
        stats = state["score_stats"]
        self.score_stats.mean, self.score_stats.var, self.score_stats.count = (
            stats["mean"],
            stats["var"],
            stats["count"],
        )
        rng = rng_states[self.process_index]
        set_global_rng_state(rng["global"])
        self.sample_generator.set_state(rng["sample"].cpu())
        self.shuffle_generator.set_state(rng["shuffle"].cpu())
        self.prompt_rng.bit_generator.state = rng["prompts"]
        return folder
