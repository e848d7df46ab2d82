"""What every algorithm shares (SB3's ``BaseAlgorithm``): construction, the env, ``predict``, ``save`` / ``load``,
checkpoints and resume.

The learn loop is ``agents.common.on_policy.OnPolicyAlgorithm``; the construction steps are in
``agents.common.model_setup``, reward shaping in ``agents.common.reward_shaping``, the minibatch updater in
``agents.common.updater``, checkpoint folders in ``agents.common.checkpoint``.

Data parallelism: under ``accelerate launch`` / ``torchrun`` every process builds the same agent; each runs
``n_envs`` episodes per rollout with its own prompts and samples (seeds offset by the process index), the update
averages gradients (DDP), and every statistic that steers training (KL controller, whitening, score statistics,
skip decisions, the timestep count) is computed over all processes, so all take the same branches. The global
batch is ``n_envs x num_processes`` episodes; only the main process logs, shows progress and writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.common.action_masks import check_action_masks, mask_logprobs, vocabulary_restriction
from agents.common.checkpoint import prune_checkpoints, read_checkpoint_processes, write_checkpoint
from agents.common.config import AlgorithmConfig
from agents.common.distributed import Reducer, make_accelerator
from agents.common.envs import make_vector_env
from agents.common.generators import ProcessGenerators
from agents.common.logger import TrainingLogger
from agents.common.model_setup import (
    check_gold_fields,
    kl_controller,
    load_policy,
    merged_config,
    optimizer_for,
    peft_config_for,
    reference_for,
)
from agents.common.policy import position_ids_from_mask
from agents.common.reward_shaping import ScoreStats
from agents.common.updater import MinibatchUpdater
from reward_models.common import resolve_dtype
from reward_models.common.deprecation import without_deprecated_aliases
from text_gym import TextGenVectorEnv

AGENT_FILE = "text_gym_agent.json"


class BaseAlgorithm:
    """Base class of every agent (``agents.PPO``, ``agents.REINFORCE``, ``agents.GRPO``).

    Args:
        policy: hub id, local folder (also one written by ``save``), ``"smollm2"`` (the packaged
            SmolLM2-135M-Instruct, offline) or a ``transformers`` ``PreTrainedModel``.
        env: env id (``"TextGen-v0"``), a ``TextGenEnv`` or any ``TextGenVectorEnv`` (one in another autoreset
            mode is rebuilt with the same settings in ``DISABLED`` mode); ``None`` to only predict (set one later
            with ``set_env``).
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
        self.config = merged_config(self.config_class, config, overrides)
        self._setup_model(policy, peft_config)
        self.env_id = env if isinstance(env, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        self.env = None
        if env is not None:
            self.set_env(env)
        self._setup_training()

    def _setup_model(self, policy: str | os.PathLike | torch.nn.Module, peft_config: Any | None) -> None:
        """The accelerator, the policy (the same initial weights on every process), its KL reference, the optimizer,
        and the prepared (DDP-wrapped) ``model`` / ``optimizer``; ``policy`` stays the bare module for rollouts,
        saving and inspection."""
        cfg = self.config
        peft_config = peft_config_for(policy, peft_config, cfg)
        self.accelerator = make_accelerator(cfg.device, cfg.compute_dtype)
        self.reducer = Reducer(self.accelerator)
        self.device = self.accelerator.device
        self.process_index, self.num_processes = self.accelerator.process_index, self.accelerator.num_processes
        self.is_main_process = self.accelerator.is_main_process
        self.compute_dtype = resolve_dtype(cfg.compute_dtype)
        torch.manual_seed(cfg.seed)
        self.policy = load_policy(policy, cfg, peft_config, self.uses_values).to(self.device)
        self.policy.share_prompt = cfg.share_prompt  # before reference_for: a reference copy keeps it
        self.ref_policy = reference_for(self.policy, cfg)
        optimizer = optimizer_for(self.policy.trainable_parameters(), cfg, self.num_processes)
        self.model, self.optimizer = self.accelerator.prepare(self.policy, optimizer)

    def _setup_training(self) -> None:
        """The KL controller, logger, score statistics, generators, updater and counters, and what a checkpoint
        holds of them (``save_checkpoint``)."""
        cfg = self.config
        self.kl_ctl = kl_controller(cfg)
        self.training_logger = TrainingLogger(
            self.reducer, self.is_main_process, cfg.gold_reward_model, cfg.log_samples_every, cfg.n_logged_samples
        )
        check_gold_fields(self.training_logger.gold_reward_model, self.env)
        self.score_stats = ScoreStats()
        seed = cfg.seed + self.process_index  # each process samples its own prompts and tokens
        self.generators = ProcessGenerators(seed, self.device, self.reducer, self.process_index)
        self.updater = MinibatchUpdater(
            self.accelerator,
            self.model,
            self.optimizer,
            self.policy.trainable_parameters(),
            self.reducer,
            self.generators.shuffle,
            cfg.minibatch_size,
            cfg.gradient_accumulation_steps,
            cfg.max_grad_norm,
        )
        self.num_timesteps = 0
        self.n_updates = 0
        self.consecutive_skips = 0
        self.accelerator.register_save_state_pre_hook(self._save_weights_hook)
        self.accelerator.register_load_state_pre_hook(self._load_weights_hook)
        self.accelerator.register_for_checkpointing(
            self, self.kl_ctl, self.training_logger, self.score_stats, self.generators
        )

    @property
    def logger(self):
        """SB3's logger of the current ``learn`` call (what callbacks record into)."""
        return self.training_logger.sb3_logger

    @property
    def ep_info_buffer(self):
        """The last 100 episodes' ``{"r": score, "l": length}`` (SB3's name; main process only)."""
        return self.training_logger.ep_info_buffer

    def learn(self, total_timesteps: int, **kwargs: Any) -> BaseAlgorithm:
        """Train (each family of algorithms implements its loop: ``OnPolicyAlgorithm.learn``)."""
        raise NotImplementedError

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
        env = self.make_env(env)
        if env.device.type != self.device.type:
            raise ValueError(
                f"the env keeps its tokens on {env.device} but the agent runs on {self.device}; "
                f"build the env with device={str(self.device)!r}"
            )
        self.env = env
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
            action_masks = check_action_masks(action_masks, ids.shape[0], self.policy.num_actions, self.device)
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
            actions = torch.multinomial(logprobs.exp(), 1, generator=self.generators.sample).squeeze(1)
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
        """Rebuild an agent saved with ``save``; its weights also become the new KL reference (full fine-tuning;
        a LoRA agent keeps its base as the reference and trains its restored adapters further).

        ``env`` is not restored (as in SB3): pass one to keep training. ``overrides`` replace config fields.
        """
        record = json.loads((Path(path) / AGENT_FILE).read_text())
        config = cls.config_from_record(record, path)
        return cls(
            str(path),
            env,
            config=config,
            env_kwargs=record["env_kwargs"] if isinstance(env, str) else None,
            **overrides,
        )

    @classmethod
    def config_from_record(cls, record: dict[str, Any], path: str | os.PathLike) -> AlgorithmConfig:
        """The config of a saved agent's ``text_gym_agent.json`` ``record`` (``ValueError`` if another algorithm
        saved it); deprecated field names in older records are read as their new names."""
        if record["algorithm"] != cls.__name__:
            raise ValueError(f"{path} holds a {record['algorithm']} agent; load it with {record['algorithm']}.load")
        return cls.config_class(**without_deprecated_aliases(cls.config_class, record["config"]))

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The agent's own training state (its counters; an algorithm adds its own, e.g. REINFORCE's baseline).
        A checkpoint holds it next to the weights and the components' states (``save_checkpoint``)."""
        return {
            "num_timesteps": self.num_timesteps,
            "n_updates": self.n_updates,
            "consecutive_skips": self.consecutive_skips,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.num_timesteps, self.n_updates = state["num_timesteps"], state["n_updates"]
        self.consecutive_skips = state["consecutive_skips"]

    def _save_weights_hook(self, models: list, weights: list, folder: str) -> None:
        """accelerate's ``save_state`` pre-hook: the weights go into the checkpoint as the saved agent (an HF
        folder, written by the main process), not as accelerate's own weights file."""
        if self.is_main_process:
            self.save(folder)
        weights.clear()

    def _load_weights_hook(self, models: list, folder: str) -> None:
        """accelerate's ``load_state`` pre-hook: the weights come from the saved agent in the checkpoint."""
        self.policy.load_weights(folder)
        models.clear()

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint_dir/checkpoint-<n_updates>`` atomically and prune old checkpoints. Called by every
        process (each contributes its RNG states); the main process writes and returns the folder, the others
        return None once it is written.

        What it holds: the saved agent (``save``), and accelerate's ``save_state`` of the optimizer, the grad
        scaler, every process's global RNG states and the registered components (this agent's ``state_dict``,
        the KL controller, the logger's episode buffer, the score statistics, every process's generators)."""
        cfg = self.config
        folder = Path(cfg.checkpoint_dir) / f"checkpoint-{self.n_updates:06d}"
        target = write_checkpoint(self.accelerator, self.reducer, folder)
        if self.is_main_process:
            prune_checkpoints(cfg.checkpoint_dir, cfg.keep_checkpoints)
        self.accelerator.wait_for_everyone()
        return target

    def load_checkpoint(self, path: str | os.PathLike) -> Path:
        """Restore everything ``save_checkpoint`` wrote (``path``: a checkpoint or a ``checkpoint_dir``), on every
        process (each takes its own RNG states). The algorithm and the number of processes must be the same as the
        run that wrote it (checked before anything is restored)."""
        folder, processes = read_checkpoint_processes(path)
        saved = json.loads((folder / AGENT_FILE).read_text())["algorithm"]
        if saved != type(self).__name__:
            raise ValueError(f"{folder} is a checkpoint of a {saved} agent; resume it with a {saved} agent")
        if processes != self.num_processes:
            raise ValueError(
                f"{folder} was written by a run with {processes} processes; resume it with "
                f"{processes} processes, not {self.num_processes}"
            )
        self.accelerator.load_state(str(folder))
        return folder
