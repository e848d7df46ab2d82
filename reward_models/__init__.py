"""Reward models for text-gym: the interface, the spec-string registry, gold labellers, learned models,
preference data and Bradley–Terry training. See docs/reward_models.md."""

from reward_models.base import BaseRewardModel, RewardFn, RewardModel, check_scores
from reward_models.common.atomic_folder import write_folder_atomically
from reward_models.common.devices import resolve_device, resolve_dtype
from reward_models.common.extras import MissingExtraError, require_extra
from reward_models.common.moved_modules import alias_moved_modules
from reward_models.common.packaged import cache_dir, load_tokenizer, resolve_model_path
from reward_models.common.quiet import hf_progress_bars_disabled
from reward_models.common.validation import check_positive_int
from reward_models.fields import RESERVED_FIELDS, call_reward, check_fields_available, required_fields
from reward_models.models.answers import extract_answer
from reward_models.models.composite import CompositeReward
from reward_models.models.constraints import (
    CONSTRAINTS,
    InstructionConstraintsReward,
    check_constraint,
    describe_constraint,
)
from reward_models.models.function_rewards import KeywordReward, LengthReward, RegexReward
from reward_models.models.gold import DistinctNGrams, VaderSentiment
from reward_models.models.hf import ADAPTER_CONFIG_NAME, REWARD_CONFIG_NAME, HFRewardModel, load_adapter_classifier
from reward_models.models.reference import (
    AnswerFormatReward,
    ExactMatchReward,
    NumericMatchReward,
    RougeReward,
    SacreBleuReward,
)
from reward_models.models.safety import HarmlessnessReward, ProfanityFreeReward, RefusalReward
from reward_models.models.sentiment import sentiment_model_path, sentiment_reward_model
from reward_models.preferences.conversation import Conversation, as_conversation, render_context, render_pairs
from reward_models.preferences.labelling import LabelConfig, label_preferences, rank_pairs
from reward_models.preferences.pairs import (
    PreferenceDataError,
    PreferencePair,
    PreferenceWriter,
    append_preferences,
    expand_row,
    load_preferences,
    parse_row,
    read_preference_rows,
)
from reward_models.registry import (
    make_reward_model,
    no_argument,
    register_reward_model,
    register_reward_models,
    registered_reward_models,
)
from reward_models.specs import BUILTIN_SPECS
from reward_models.training.config import RewardTrainerConfig
from reward_models.training.evaluation import evaluate_preferences, score_pairs
from reward_models.training.losses import bradley_terry_loss, preference_metrics
from reward_models.training.pack import PackConfig, PackResult, pack_reward_model
from reward_models.training.trainer import RewardTrainResult, train_reward_model

register_reward_models(BUILTIN_SPECS)

# Module paths of the flat layout (before the envs/, chat/, tasks/ ... folders): importable, with a DeprecationWarning.
alias_moved_modules(
    {
        "reward_models.validation": "reward_models.common.validation",
        "reward_models.atomic_folder": "reward_models.common.atomic_folder",
        "reward_models.jsonl": "reward_models.common.jsonl",
        "reward_models.packaged": "reward_models.common.packaged",
        "reward_models.quiet": "reward_models.common.quiet",
        "reward_models.extras": "reward_models.common.extras",
        "reward_models.composite": "reward_models.models.composite",
        "reward_models.function_rewards": "reward_models.models.function_rewards",
        "reward_models.gold": "reward_models.models.gold",
        "reward_models.hf": "reward_models.models.hf",
        "reward_models.sentiment": "reward_models.models.sentiment",
        "reward_models.reference": "reward_models.models.reference",
        "reward_models.constraints": "reward_models.models.constraints",
        "reward_models.answers": "reward_models.models.answers",
        "reward_models.losses": "reward_models.training.losses",
        "reward_models.trainer": "reward_models.training.trainer",
        "reward_models.evaluation": "reward_models.training.evaluation",
        "reward_models.labelling": "reward_models.preferences.labelling",
    }
)

__all__ = [
    "ADAPTER_CONFIG_NAME",
    "BUILTIN_SPECS",
    "CONSTRAINTS",
    "RESERVED_FIELDS",
    "REWARD_CONFIG_NAME",
    "AnswerFormatReward",
    "BaseRewardModel",
    "CompositeReward",
    "Conversation",
    "DistinctNGrams",
    "ExactMatchReward",
    "HFRewardModel",
    "HarmlessnessReward",
    "InstructionConstraintsReward",
    "KeywordReward",
    "LabelConfig",
    "LengthReward",
    "MissingExtraError",
    "NumericMatchReward",
    "PackConfig",
    "PackResult",
    "PreferenceDataError",
    "PreferencePair",
    "PreferenceWriter",
    "ProfanityFreeReward",
    "RefusalReward",
    "RegexReward",
    "RewardFn",
    "RewardModel",
    "RewardTrainResult",
    "RewardTrainerConfig",
    "RougeReward",
    "SacreBleuReward",
    "VaderSentiment",
    "append_preferences",
    "as_conversation",
    "bradley_terry_loss",
    "cache_dir",
    "call_reward",
    "check_constraint",
    "check_fields_available",
    "check_positive_int",
    "check_scores",
    "describe_constraint",
    "evaluate_preferences",
    "expand_row",
    "extract_answer",
    "hf_progress_bars_disabled",
    "label_preferences",
    "load_adapter_classifier",
    "load_preferences",
    "load_tokenizer",
    "make_reward_model",
    "no_argument",
    "pack_reward_model",
    "parse_row",
    "preference_metrics",
    "rank_pairs",
    "read_preference_rows",
    "register_reward_model",
    "register_reward_models",
    "registered_reward_models",
    "render_context",
    "render_pairs",
    "require_extra",
    "required_fields",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_path",
    "score_pairs",
    "sentiment_model_path",
    "sentiment_reward_model",
    "train_reward_model",
    "write_folder_atomically",
]
