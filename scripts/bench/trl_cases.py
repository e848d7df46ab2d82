"""The TRL case builder: TRL's trainers as the benchmarks run them, built in one place.

- ``group_trainer``: ``trl.GRPOTrainer`` (``loss_type="dapo"``, the token mean our GRPO uses) or
  ``trl.RLOOTrainer`` (trl >= 1.13, the ``bench-trl`` extra), full fine-tuning or LoRA;
- ``ppo_trainer``: the historical ``trl.experimental.ppo.PPOTrainer`` (trl 1.0-1.12 only, the
  ``bench-trl-ppo`` extra) with a separate value model initialised from the policy.

Both get the settings every TRL case shares (``shared_arguments``): the seed, the learning rate, gradient
clipping at 1.0, the device and mixed-precision dtype, and no reporting, saving or progress bars.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from reward_models.common import MissingExtraError
from reward_models.common.quiet import expected_load_report_silenced, peft_checkpointing_warning_silenced

if TYPE_CHECKING:
    from scripts.bench.group import GroupSettings
    from scripts.bench.iteration import IterationSettings
    from scripts.bench.measure import CaseSettings


def load_trl_group_trainers() -> dict[str, tuple[type, type]]:
    """``{"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}`` from trl.

    Raises:
        MissingExtraError: trl (>= 1.13, which has both) is not installed; names the extra that installs it.
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer
    except ImportError as err:
        raise MissingExtraError(
            'the TRL GRPO / RLOO cases need trl >= 1.13: pip install "text-gym[bench-trl]"'
        ) from err
    return {"grpo": (GRPOConfig, GRPOTrainer), "rloo": (RLOOConfig, RLOOTrainer)}


def load_trl_ppo() -> tuple[type, type]:
    """TRL's ``(PPOConfig, PPOTrainer)``.

    Raises:
        MissingExtraError: the installed trl has no PPO trainer (only trl 1.0-1.12 ship it); says which to install.
    """
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


def checkpointing_argument(config_class: type, enabled: bool) -> dict[str, bool]:
    """TRL's gradient-checkpointing flag under the name the installed transformers takes (``activation_checkpointing``
    from transformers 5.x, whose old ``gradient_checkpointing`` name warns on every use)."""
    names = {f.name for f in fields(config_class)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def shared_arguments(s: CaseSettings, out_dir: str) -> dict[str, Any]:
    """The ``TrainingArguments`` fields every TRL case sets the same way."""
    return {
        "output_dir": out_dir,
        "learning_rate": s.learning_rate,
        "max_grad_norm": 1.0,
        "seed": s.seed,
        "use_cpu": s.device == "cpu",
        "bf16": s.dtype == "bfloat16",
        "fp16": s.dtype == "float16",
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
    }


def group_trainer(s: GroupSettings, lora: bool, out_dir: str, callbacks: list[Any]) -> Any:
    """TRL's GRPO or RLOO trainer (``s.algorithm``) on the settings of scripts/bench/group.py: ``s.prompts x
    s.group_size`` completions of exactly ``s.new_tokens`` tokens per step, one optimizer step per generation
    batch, ``beta = s.kl_coef``, the reward model in ``s.reward_dir``; LoRA (rank ``s.lora_r``, alpha twice that,
    all linear layers) when ``lora``."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer

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
    args = Config(
        **shared_arguments(s, out_dir),
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
        lr_scheduler_type="constant",
        weight_decay=0.0,
        **checkpointing_argument(Config, s.gradient_checkpointing),
        disable_dropout=True,
        logging_strategy="no",
        **({"loss_type": "dapo"} if s.algorithm == "grpo" else {}),
    )
    with peft_checkpointing_warning_silenced():  # TRL wraps the LoRA policy with peft
        return Trainer(
            model=policy,
            reward_funcs=s.reward_dir,
            args=args,
            train_dataset=Dataset.from_dict({"prompt": default_prompts("train")}),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )


def ppo_trainer(s: IterationSettings, out_dir: str, callbacks: list[Any]) -> Any:
    """TRL's historical PPO trainer on the settings of scripts/bench/iteration.py (a separate value model and a
    reference copy, both initialised from the policy; the reward model in ``s.reward_dir``)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from reward_models.common.lm import load_causal_lm
    from text_gym import default_prompts

    PPOConfig, PPOTrainer = load_trl_ppo()
    tokenizer = AutoTokenizer.from_pretrained(s.policy_dir, padding_side="left")
    torch.manual_seed(s.seed)
    policy = load_causal_lm(s.policy_dir, trainable=True)
    ref = load_causal_lm(s.policy_dir)
    with expected_load_report_silenced():  # the value model's new scalar head is reported missing
        value = AutoModelForSequenceClassification.from_pretrained(s.policy_dir, num_labels=1)
    reward = AutoModelForSequenceClassification.from_pretrained(s.reward_dir)
    for model in (value, reward):
        model.config.pad_token_id = tokenizer.pad_token_id
    dataset = Dataset.from_dict({"input_ids": [tokenizer(p)["input_ids"] for p in default_prompts("train")]})
    args = PPOConfig(
        **shared_arguments(s, out_dir),
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
        kl_coef=s.kl_coef,
        kl_estimator="k1",
        cliprange=0.2,
        cliprange_value=0.2,
        vf_coef=0.1,
        gamma=1.0,
        lam=0.95,
        whiten_rewards=False,
        num_sample_generations=0,
    )
    return PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref,
        reward_model=reward,
        value_model=value,
        train_dataset=dataset,
        callbacks=callbacks,
    )


def train_quietly(trainer: Any) -> None:
    """``trainer.train()`` without the metrics TRL prints every step, nor peft's FutureWarning at every LoRA
    generation."""
    with contextlib.redirect_stdout(io.StringIO()), peft_checkpointing_warning_silenced():
        trainer.train()
