"""``text-gym reward label|train|eval|pack``: preference data, Bradley–Terry training, evaluation and packing of
reward models.

Thin wrappers: every flag is a field of ``reward_models.LabelConfig``, ``reward_models.RewardTrainerConfig``,
``reward_models.training.evaluation.EvalConfig`` or ``reward_models.PackConfig``.
"""

from __future__ import annotations

import argparse
import json

from scripts.args import add_config_subcommands, config_from_args


def run_label(args: argparse.Namespace) -> int:
    from reward_models import LabelConfig, label_preferences
    from text_gym import load_prompts

    config = config_from_args(LabelConfig, args)
    if config.env is not None:
        written = _label_chat_env(config)
        print(f"wrote {written} conversation preference pairs to {config.output}")
        return 0
    written = label_preferences(config, load_prompts(config.prompts or "default:train"))
    print(f"wrote {written} preference pairs to {config.output}")
    return 0


def _label_chat_env(config) -> int:
    """``reward label --env``: the chat env with the policy's tokenizer, the gold labeller as its reward model and
    ``max_new_tokens`` as its ``max_turn_tokens``; one conversation per prompt and repeat."""
    from reward_models.common.devices import resolve_device
    from reward_models.preferences.labelling import load_policy
    from text_gym import load_prompts
    from text_gym.chat.labelling import label_conversations, labelling_env

    model, tokenizer = load_policy(config.policy, resolve_device(config.device))
    prompts = None if config.prompts is None else load_prompts(config.prompts)
    env = labelling_env(config.env, tokenizer, config.max_new_tokens, config.gold, prompts)
    return label_conversations(env, model, config, len(env.task.prompts) * config.repeats)


def run_train(args: argparse.Namespace) -> int:
    from reward_models import RewardTrainerConfig, train_reward_model

    config = config_from_args(RewardTrainerConfig, args)
    result = train_reward_model(config)
    print(
        f"saved reward model to {result.output_dir} after {result.steps} steps; best held-out metrics: "
        f"{json.dumps(result.best_metrics)}"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from reward_models import evaluate_preferences, load_preferences, make_reward_model, render_pairs
    from reward_models.common.packaged import load_tokenizer
    from reward_models.training.evaluation import EvalConfig

    config = config_from_args(EvalConfig, args)
    chat_tokenizer = None if config.chat_tokenizer is None else load_tokenizer(config.chat_tokenizer)
    metrics = evaluate_preferences(
        make_reward_model(config.reward_model),
        render_pairs(load_preferences(config.data), chat_tokenizer),
        gold=None if config.gold is None else make_reward_model(config.gold),
        min_gold_gap=config.min_gold_gap,
        use_margin=config.use_margin,
    )
    print(json.dumps({"reward_model": config.reward_model, "data": config.data, **metrics}, indent=2))
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from reward_models import PackConfig, pack_reward_model

    config = config_from_args(PackConfig, args)
    result = pack_reward_model(config)
    print(
        f"wrote {result.output}: {result.adapter_bytes / 1e6:.2f} MB of adapter weights ({config.dtype}; "
        f"{len(result.low_rank_modules)} modules as rank-{config.rank} factors, {len(result.full_modules)} in full), "
        f"max relative error of the low-rank factors {result.max_relative_error:.2e}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from reward_models import LabelConfig, PackConfig, RewardTrainerConfig
    from reward_models.training.evaluation import EvalConfig

    parser = subparsers.add_parser(
        "reward", help="label preference data, train, evaluate and pack reward models", description=__doc__
    )
    add_config_subcommands(
        parser,
        "reward_command",
        [
            (
                "label",
                LabelConfig,
                run_label,
                "sample completions from a policy and write gold-ranked preference pairs",
            ),
            ("train", RewardTrainerConfig, run_train, "train a Bradley-Terry reward model on preference pairs"),
            ("eval", EvalConfig, run_eval, "evaluate a reward model on a preference file"),
            (
                "pack",
                PackConfig,
                run_pack,
                "store a trained reward model as a small peft LoRA adapter folder against its base",
            ),
        ],
    )
