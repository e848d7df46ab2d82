"""What every algorithm shares: building the policy / reference / env, the learn loop, tensorboard logging,
checkpoint and resume, ``save`` / ``load`` / ``predict`` (SB3's surface).

An algorithm subclasses :class:`BaseAlgorithm`, sets ``config_class`` and ``uses_values``, and implements
:meth:`BaseAlgorithm.train`, which turns one :class:`agents.RolloutBuffer` into optimizer steps through
:meth:`BaseAlgorithm.run_epochs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.logger import TensorBoardOutputFormat
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.utils import configure_logger
from tqdm.auto import tqdm

from agents.checkpoint import (
    TRAINING_STATE,
    global_rng_state,
    prune_checkpoints,
    resolve_checkpoint,
    set_global_rng_state,
    write_atomically,
)
from agents.config import AlgorithmConfig
from agents.envs import make_vector_env
from agents.kl import AdaptiveKLController, FixedKLController, kl_estimate
from agents.policy import LMPolicy, position_ids_from_mask
from agents.rollout import RolloutBuffer, collect_rollout
from reward_models import call_reward, check_fields_available, make_reward_model, resolve_device, resolve_dtype
from text_gym import TextGenVectorEnv

AGENT_FILE = "text_gym_agent.json"
LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def _markdown_table(rows: list[tuple[str, str, float]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| prompt | completion | score |", "|---|---|---|"]
    lines += [f"| {cell(p)} | {cell(c)} | {s:.4f} |" for p, c, s in rows]
    return "\n".join(lines)


class BaseAlgorithm:
    """Base class of :class:`agents.PPO` and :class:`agents.REINFORCE`.

    Args:
        policy: hub id, local folder (also one written by :meth:`save`), ``"smollm2"`` (the packaged
            SmolLM2-135M-Instruct, offline) or a ``transformers`` ``PreTrainedModel``.
        env: env id (``"TextGen-v0"``), a ``TextGenEnv`` or a ``TextGenVectorEnv`` with
            ``autoreset_mode=AutoresetMode.DISABLED``; ``None`` to only predict (set one later with :meth:`set_env`).
        config: the algorithm's config dataclass; keyword arguments override its fields (SB3 style:
            ``PPO("smollm2", "TextGen-v0", learning_rate=1e-5)``).
        env_kwargs: constructor arguments when ``env`` is an id (``reward_model``, ``prompts``,
            ``max_new_tokens``...); ``vocab_size`` defaults to the policy's LM-head size and ``tokenizer`` to
            the policy's tokenizer.
    """

    config_class: type[AlgorithmConfig] = AlgorithmConfig
    uses_values = False

    def __init__(
        self,
        policy: str | os.PathLike | torch.nn.Module,
        env: str | gym.Env | None = None,
        config: AlgorithmConfig | None = None,
        env_kwargs: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        unknown = set(overrides) - self.config_class.field_names()
        if unknown:
            raise TypeError(
                f"unknown {self.config_class.__name__} fields {sorted(unknown)}; "
                f"valid: {sorted(self.config_class.field_names())}"
            )
        self.config = cfg = dataclasses.replace(config or self.config_class(), **overrides)
        self.device = resolve_device(cfg.device)
        self.compute_dtype = resolve_dtype(cfg.dtype)
        torch.manual_seed(cfg.seed)
        self.policy = LMPolicy.from_pretrained(
            policy, value_head=self.uses_values, separate_critic=getattr(cfg, "separate_critic", False)
        )
        self.policy.to(self.device)
        self.ref_policy = self.policy.reference_copy()
        self.env_id = env if isinstance(env, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        self.env = None
        if env is not None:
            self.set_env(env)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.policy.parameters() if p.requires_grad],
            lr=cfg.learning_rate,
            eps=cfg.adam_eps,
            weight_decay=cfg.weight_decay,
        )
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.dtype == "float16")
        self.kl_ctl = (
            AdaptiveKLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon)
            if cfg.adaptive_kl
            else FixedKLController(cfg.kl_coef)
        )
        self.gold_reward_model = make_reward_model(cfg.gold_reward_model) if cfg.gold_reward_model else None
        if self.gold_reward_model is not None and self.env is not None:
            check_fields_available(self.gold_reward_model, self.env.task.field_names, "gold_reward_model")
        self.score_stats = RunningMeanStd(shape=())
        self.sample_generator = torch.Generator(self.device).manual_seed(cfg.seed)
        self.shuffle_generator = torch.Generator().manual_seed(cfg.seed + 1)
        self.prompt_rng = np.random.default_rng(cfg.seed)
        self.num_timesteps = 0
        self.n_updates = 0
        self.consecutive_skips = 0
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=100)
        self.logger = configure_logger(0)

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
        self.policy.num_actions = self.ref_policy.num_actions = int(self.env.single_action_space.n)
        if self.policy.tokenizer is None:  # saved next to the weights
            self.policy.tokenizer = self.env.task.tokenizer
        self.n_envs = self.env.num_envs

    def get_env(self):
        """The training vector env (SB3's name)."""
        return self.env

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the configured compute dtype (a no-op for float32)."""
        return torch.autocast(self.device.type, dtype=self.compute_dtype, enabled=self.config.dtype != "float32")

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
        """One batch of episodes through the env, with reference log-probs (and values if the algorithm uses them)."""
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
        """Episode scores ``[B]`` after the missing-EOS penalty and the optional running normalisation."""
        cfg = self.config
        scores = buffer.scores.clone()
        if cfg.missing_eos_penalty is not None:
            no_eos = torch.as_tensor([r != "eos" for r in buffer.stop_reasons], device=scores.device)
            scores = scores - cfg.missing_eos_penalty * no_eos.float()
        if cfg.normalize_scores:
            self.score_stats.update(scores.double().cpu().numpy())
            scores = (scores - float(self.score_stats.mean)) / math.sqrt(float(self.score_stats.var) + 1e-8)
        return scores

    def train(self, buffer: RolloutBuffer, scores: torch.Tensor, kl: torch.Tensor) -> dict[str, float]:
        """Update the policy from one rollout. ``scores`` ``[B]`` are the shaped episode scores, ``kl`` ``[B, T]``
        the per-token KL estimate (zero after each episode's end). Returns the ``train/`` metrics."""
        raise NotImplementedError

    def run_epochs(self, buffer: RolloutBuffer, n_epochs: int, loss_fn: LossFn) -> dict[str, float]:
        """``n_epochs`` passes over the batch in shuffled minibatches of ``minibatch_size`` episodes, each one
        optimizer step with ``gradient_accumulation_steps`` micro-batches and gradient clipping.

        ``loss_fn(indices)`` returns the loss of the episodes ``indices`` and a dict of 0-dim metric tensors.
        A minibatch whose loss or gradient norm is not finite is skipped (warning, ``train/skipped_steps``).
        Returns the metrics averaged over minibatches, plus ``grad_norm`` and ``skipped_steps``.
        """
        cfg = self.config
        B = buffer.batch_size
        size = min(cfg.minibatch_size, B)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        totals: dict[str, float] = {}
        steps = skipped = 0
        for _ in range(n_epochs):
            order = torch.randperm(B, generator=self.shuffle_generator).to(self.device)
            for begin in range(0, B, size):
                minibatch = order[begin : begin + size]
                micro_batches = minibatch.tensor_split(min(cfg.gradient_accumulation_steps, len(minibatch)))
                self.optimizer.zero_grad(set_to_none=True)
                metrics: dict[str, torch.Tensor] = {}
                for micro in micro_batches:
                    with self.autocast():
                        loss, micro_metrics = loss_fn(micro)
                    self.grad_scaler.scale(loss / len(micro_batches)).backward()
                    for key, value in {"loss": loss, **micro_metrics}.items():
                        metrics[key] = metrics.get(key, 0.0) + value.detach().float() / len(micro_batches)
                self.grad_scaler.unscale_(self.optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                values = {key: float(value) for key, value in metrics.items()}
                values["grad_norm"] = float(grad_norm)
                if not all(math.isfinite(v) for v in (values["loss"], values["grad_norm"])):
                    warnings.warn(
                        f"update {self.n_updates}: non-finite loss ({values['loss']}) or gradient norm "
                        f"({values['grad_norm']}); this optimizer step is skipped",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    self.optimizer.zero_grad(set_to_none=True)
                    self.grad_scaler.update()
                    skipped += 1
                    continue
                self.grad_scaler.step(self.optimizer)
                self.grad_scaler.update()
                steps += 1
                for key, value in values.items():
                    totals[key] = totals.get(key, 0.0) + value
        result = {key: value / max(steps, 1) for key, value in totals.items()}
        result["skipped_steps"] = float(skipped)
        result["optimizer_steps"] = float(steps)
        return result

    # ---------------------------------------------------------------- learn
    def _update_learning_rate(self, total_timesteps: int) -> float:
        lr = self.config.learning_rate
        if self.config.lr_schedule == "linear":
            lr *= max(1.0 - self.num_timesteps / total_timesteps, 0.0)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _init_callback(self, callback):
        from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback

        if callback is None:
            return None
        if isinstance(callback, list):
            callback = CallbackList(callback)
        elif not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        callback.init_callback(self)
        return callback

    def learn(
        self,
        total_timesteps: int,
        callback=None,
        progress_bar: bool = True,
        resume_from: str | os.PathLike | None = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str | None = None,
    ) -> BaseAlgorithm:
        """Train until ``num_timesteps`` (generated tokens, summed over sub-envs) reaches ``total_timesteps``.

        Args:
            callback: an SB3 ``BaseCallback``, a list of them, or a callable ``(locals, globals) -> bool``; its
                ``on_step`` runs once per update (after the rollout) and stops training by returning False.
            progress_bar: show a tqdm bar of generated tokens.
            resume_from: a checkpoint folder, or a ``checkpoint_dir`` (its latest checkpoint): restores weights,
                optimizer, KL controller, baselines, RNG states and counters, and continues the same run.
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
        self.logger = configure_logger(
            cfg.verbose,
            cfg.tensorboard_log,
            tb_log_name or type(self).__name__,
            reset_num_timesteps and resume_from is None,
        )
        writer = next((f.writer for f in self.logger.output_formats if isinstance(f, TensorBoardOutputFormat)), None)
        callback = self._init_callback(callback)
        if callback is not None:
            callback.on_training_start(locals(), globals())
        bar = tqdm(
            total=total_timesteps,
            initial=min(self.num_timesteps, total_timesteps),
            unit="tok",
            disable=not progress_bar,
            desc=type(self).__name__,
        )
        try:
            while self.num_timesteps < total_timesteps:
                lr = self._update_learning_rate(total_timesteps)
                if callback is not None:
                    callback.on_rollout_start()
                buffer = self.collect_rollouts()
                self.num_timesteps += buffer.num_tokens
                if callback is not None:
                    callback.update_locals(locals())
                    if not callback.on_step():
                        break
                    callback.on_rollout_end()
                metrics = self._update(buffer)
                metrics["train/learning_rate"] = lr
                self.n_updates += 1
                self._log(metrics, buffer, writer)
                bar.update(min(buffer.num_tokens, total_timesteps - bar.n))
                bar.set_postfix(score=f"{metrics['rollout/score_mean']:.3f}", kl=f"{metrics['objective/kl']:.2f}")
                if cfg.checkpoint_dir is not None and self.n_updates % cfg.checkpoint_freq == 0:
                    self.save_checkpoint()
        finally:
            bar.close()
        if callback is not None:
            callback.on_training_end()
        return self

    def _update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """Shape the rewards of one rollout and train on it."""
        mask = buffer.response_mask
        kl = kl_estimate(buffer.logprobs, buffer.ref_logprobs, self.config.kl_estimator) * mask
        k1 = ((buffer.logprobs - buffer.ref_logprobs) * mask).sum(1)
        metrics = {
            "rollout/score_mean": float(buffer.scores.mean()),
            "rollout/ep_len_mean_batch": float(mask.sum(1).mean()),
            "objective/kl": float(k1.mean()),
            "objective/entropy": float(-buffer.logprobs.sum(1).mean()),
            "objective/kl_coef": self.kl_ctl.value,
            "time/rollout_s": buffer.rollout_s,
            "time/tokens_per_sec": buffer.num_tokens / max(buffer.rollout_s, 1e-9),
        }
        start = time.perf_counter()
        scores = self.shaped_scores(buffer)
        metrics["objective/rlhf_reward"] = float((scores - self.kl_ctl.value * kl.sum(1)).mean())
        train_metrics = self.train(buffer, scores, kl)
        metrics.update({f"train/{key}": value for key, value in train_metrics.items()})
        self.kl_ctl.update(float(kl.sum(1).mean()), buffer.batch_size)
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

    def _log(self, metrics: dict[str, float], buffer: RolloutBuffer, writer) -> None:
        scores = buffer.scores.double().cpu().numpy()
        lengths = buffer.response_mask.sum(1).cpu().numpy()
        self.ep_info_buffer.extend({"r": float(s), "l": float(n)} for s, n in zip(scores, lengths, strict=False))
        self.logger.record("rollout/ep_rew_mean", float(np.mean([e["r"] for e in self.ep_info_buffer])))
        self.logger.record("rollout/ep_len_mean", float(np.mean([e["l"] for e in self.ep_info_buffer])))
        if self.gold_reward_model is not None:
            fields = self.env.task.prompt_fields(buffer.prompt_index)
            gold = np.asarray(
                call_reward(self.gold_reward_model, buffer.prompts, buffer.completions, fields, "gold_reward_model"),
                dtype=np.float64,
            )
            metrics["rollout/gold_score_mean"] = float(gold.mean())
        metrics.pop("rollout/ep_len_mean_batch")
        for key, value in metrics.items():
            self.logger.record(key, value)
        self.logger.record("train/n_updates", self.n_updates)
        self.logger.record("time/total_timesteps", self.num_timesteps)
        if writer is not None and (self.n_updates - 1) % self.config.log_samples_every == 0:
            rows = list(zip(buffer.prompts, buffer.completions, scores.tolist(), strict=False))[
                : self.config.n_logged_samples
            ]
            writer.add_text("samples", _markdown_table(rows), self.num_timesteps)
        self.logger.dump(step=self.num_timesteps)

    # ---------------------------------------------------------------- predict
    @torch.no_grad()
    def predict(
        self, observation: dict[str, np.ndarray], state=None, episode_start=None, deterministic: bool = False
    ) -> tuple[np.ndarray, None]:
        """Next token for one observation (``input_ids`` / ``attention_mask`` ``[L]``) or a batch ``[B, L]``.

        Returns ``(actions, None)`` like SB3: an int64 array ``[B]`` (or a 0-dim array for one observation);
        ``deterministic`` takes the most likely token, otherwise one is sampled at the config temperature.
        """
        ids = torch.as_tensor(np.asarray(observation["input_ids"]), device=self.device)
        mask = torch.as_tensor(np.asarray(observation["attention_mask"]), device=self.device)
        single = ids.ndim == 1
        ids, mask = ids.view(-1, ids.shape[-1]), mask.view(-1, mask.shape[-1])
        # Attended tokens only (the layout pads inside the row); the last one predicts the next token.
        order = torch.argsort(mask, dim=1, stable=True)
        ids, mask = ids.gather(1, order), mask.gather(1, order)
        with self.autocast():
            logprobs, _, _ = self.policy.step(ids, mask, position_ids_from_mask(mask), None, self.config.temperature)
        if deterministic:
            actions = logprobs.argmax(-1)
        else:
            actions = torch.multinomial(logprobs.exp(), 1, generator=self.sample_generator).squeeze(1)
        actions = actions.cpu().numpy()
        return (actions[0] if single else actions), None

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike) -> None:
        """Write an HF-style folder: the LM (``AutoModelForCausalLM.from_pretrained(path)`` loads it), its
        tokenizer, the value head / critic, and ``text_gym_agent.json`` (algorithm, config, env id)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.policy.save_pretrained(path)
        env_kwargs = {k: v for k, v in self.env_kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}
        record = {
            "algorithm": type(self).__name__,
            "config": dataclasses.asdict(self.config),
            "env": self.env_id,
            "env_kwargs": env_kwargs,
        }
        (path / AGENT_FILE).write_text(json.dumps(record, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike, env: str | gym.Env | None = None, **overrides: Any) -> BaseAlgorithm:
        """Rebuild an agent saved with :meth:`save`; its weights also become the new KL reference.

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

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint_dir/checkpoint-<n_updates>`` atomically and prune old checkpoints."""
        cfg = self.config
        state = {
            "num_timesteps": self.num_timesteps,
            "n_updates": self.n_updates,
            "consecutive_skips": self.consecutive_skips,
            "ep_info_buffer": list(self.ep_info_buffer),
            "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.grad_scaler.state_dict(),
            "kl_ctl": self.kl_ctl.state_dict(),
            "algorithm": self.algorithm_state(),
            "score_stats": {
                "mean": self.score_stats.mean,
                "var": self.score_stats.var,
                "count": self.score_stats.count,
            },
            "rng": {
                "global": global_rng_state(),
                "sample": self.sample_generator.get_state(),
                "shuffle": self.shuffle_generator.get_state(),
                "prompts": self.prompt_rng.bit_generator.state,
            },
        }

        def write(folder: Path) -> None:
            self.save(folder)
            torch.save(state, folder / TRAINING_STATE)

        target = write_atomically(Path(cfg.checkpoint_dir) / f"checkpoint-{self.n_updates:06d}", write)
        prune_checkpoints(cfg.checkpoint_dir, cfg.keep_checkpoints)
        return target

    def load_checkpoint(self, path: str | os.PathLike) -> Path:
        """Restore everything :meth:`save_checkpoint` wrote (``path``: a checkpoint or a ``checkpoint_dir``)."""
        from transformers import AutoModelForCausalLM

        folder = resolve_checkpoint(path)
        saved = AutoModelForCausalLM.from_pretrained(folder, dtype=next(self.policy.model.parameters()).dtype)
        self.policy.model.load_state_dict(saved.state_dict())
        self.policy.load_heads(folder)
        state = torch.load(folder / TRAINING_STATE, map_location="cpu", weights_only=False)
        self.num_timesteps, self.n_updates = state["num_timesteps"], state["n_updates"]
        self.consecutive_skips = state["consecutive_skips"]
        self.ep_info_buffer = deque(state["ep_info_buffer"], maxlen=self.ep_info_buffer.maxlen)
        self.optimizer.load_state_dict(state["optimizer"])
        self.grad_scaler.load_state_dict(state["grad_scaler"])
        self.kl_ctl.load_state_dict(state["kl_ctl"])
        self.load_algorithm_state(state["algorithm"])
        stats = state["score_stats"]
        self.score_stats.mean, self.score_stats.var, self.score_stats.count = (
            stats["mean"],
            stats["var"],
            stats["count"],
        )
        rng = state["rng"]
        set_global_rng_state(rng["global"])
        self.sample_generator.set_state(rng["sample"].cpu())
        self.shuffle_generator.set_state(rng["shuffle"].cpu())
        self.prompt_rng.bit_generator.state = rng["prompts"]
        return folder
