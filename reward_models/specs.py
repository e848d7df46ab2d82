"""The built-in reward-model spec strings: ``BUILTIN_SPECS`` (registered when ``reward_models`` is imported).

=====================  =================================================================================
spec                   reward model
=====================  =================================================================================
``sentiment[:dev]``    learned sentiment RM on MiniLM (the offline default), on device ``dev`` (cpu)
``hf:<id-or-folder>``  ``HFRewardModel``; options after ``?``, e.g. ``hf:./rm?device=cuda&dtype=bfloat16``
``vader[:with-prompt]`` VADER compound sentiment of the completion (gold labeller)
``distinct[:n]``       distinct-n ratio of the completion (gold labeller of repetition; n = 2)
``length[:target]``    words in the completion, or ``-|words - target|``
``keyword:<w1,w2>``    whole-word occurrences of the keywords
``regex:<pattern>``    1.0 when the pattern matches the completion, else 0.0
``composite:<terms>``  weighted sum, e.g. ``composite:1*sentiment+0.5*distinct:2`` (terms must not contain '+')
``exact-match``        1.0 when the completion equals the per-prompt ``answer`` (``reward_models.models.reference``)
``numeric-match``      1.0 when the completion's final number equals the per-prompt ``answer``
``answer-format``      1.0 when the completion puts a number in ``\boxed{}``
``bleu``, ``chrf``     sacrebleu sentence BLEU / chrF / 100 against the per-prompt ``references``
``rouge[:variant]``    rouge-score F1 (``rougeL`` default) against the per-prompt ``references``
``instruction-         fraction of the per-prompt ``constraints`` met (``reward_models.models.constraints``);
constraints[:all]``    ``:all``: 1.0 only when every constraint is met
``harmlessness[:t]``   1 − P(offensive) of the completion from alt-profanity-check, in [0, 1]; ``:t``: 1.0 when
                       P(offensive) < t (``reward_models.models.safety``; the ``safety`` extra)
``profanity-free``     1.0 when no word of better-profanity's word list is in the completion (``safety`` extra)
``refusal``            1.0 when the reply is empty, under 3 words, or a refusal / evasion (over-correction rate)
=====================  =================================================================================

Specs that name a per-prompt field need prompts that carry it (``reward_models.fields``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from reward_models.base import RewardFn
from reward_models.models.composite import CompositeReward
from reward_models.models.constraints import InstructionConstraintsReward
from reward_models.models.function_rewards import KeywordReward, LengthReward, RegexReward
from reward_models.models.gold import DistinctNGrams, VaderSentiment
from reward_models.models.hf import HFRewardModel
from reward_models.models.reference import (
    AnswerFormatReward,
    ExactMatchReward,
    NumericMatchReward,
    RougeReward,
    SacreBleuReward,
)
from reward_models.models.safety import HarmlessnessReward, ProfanityFreeReward, RefusalReward
from reward_models.models.sentiment import sentiment_reward_model
from reward_models.registry import make_reward_model, no_argument

_HF_OPTIONS = {
    "label_index": int,
    "negative_label_index": int,
    "include_prompt": "bool",
    "max_length": int,
    "max_batch_size": int,
    "device": str,
    "dtype": str,
    "normalize": "bool",
}


def _required(name: str, argument: str | None, example: str) -> str:
    if not argument:
        raise ValueError(f"reward_model spec {name!r} needs an argument, e.g. {example!r}")
    return argument


def _integer(name: str, argument: str) -> int:
    try:
        return int(argument)
    except ValueError:
        raise ValueError(f"reward_model spec '{name}:{argument}': the argument must be an integer") from None


def parse_hf_spec(argument: str | None) -> HFRewardModel:
    """``<id-or-folder>[?option=value&...]`` -> ``HFRewardModel``; options are its keyword arguments."""
    path, _, query = _required("hf", argument, "hf:./my-reward-model").partition("?")
    options = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        kind = _HF_OPTIONS.get(key)
        if kind is None:
            raise ValueError(f"unknown hf reward-model option {key!r}; valid: {', '.join(_HF_OPTIONS)}")
        if kind == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"hf reward-model option {key} must be true or false, got {value!r}")
            options[key] = value.lower() in ("true", "1")
        else:
            options[key] = _integer(key, value) if kind is int else value
    return HFRewardModel(path, **options)


def parse_composite_spec(argument: str | None) -> CompositeReward:
    """``w1*spec1+w2*spec2+...`` (weight defaults to 1) -> ``CompositeReward``."""
    terms = []
    for term in _required("composite", argument, "composite:1*sentiment+0.5*distinct").split("+"):
        weight, star, spec = term.partition("*")
        if not star:
            weight, spec = "1", term
        try:
            terms.append((float(weight), make_reward_model(spec.strip())))
        except ValueError as error:
            raise ValueError(f"composite term {term!r}: {error}") from error
    return CompositeReward(terms)


def parse_constraints_spec(argument: str | None) -> InstructionConstraintsReward:
    """``instruction-constraints`` (fraction met) or ``instruction-constraints:all`` (1.0 only when all are met)."""
    if argument not in (None, "all"):
        raise ValueError(f"reward_model spec 'instruction-constraints:{argument}': the argument must be 'all' or none")
    return InstructionConstraintsReward(all_required=argument == "all")


def parse_harmlessness_spec(argument: str | None) -> HarmlessnessReward:
    """``harmlessness`` (1 − P(offensive)) or ``harmlessness:<threshold>`` (1.0 when P(offensive) < threshold)."""
    if argument is None:
        return HarmlessnessReward()
    try:
        threshold = float(argument)
    except ValueError:
        raise ValueError(
            f"reward_model spec 'harmlessness:{argument}': the argument must be a probability in (0, 1)"
        ) from None
    return HarmlessnessReward(threshold)


BUILTIN_SPECS: dict[str, Callable[[str | None], RewardFn]] = {
    "vader": lambda a: VaderSentiment(include_prompt=a == "with-prompt"),
    "sentiment": lambda a: sentiment_reward_model(device=a or "cpu"),
    "hf": parse_hf_spec,
    "distinct": lambda a: DistinctNGrams(_integer("distinct", a) if a else 2),
    "length": lambda a: LengthReward(_integer("length", a) if a else None),
    "keyword": lambda a: KeywordReward(_required("keyword", a, "keyword:great,love").split(",")),
    "regex": lambda a: RegexReward(_required("regex", a, r"regex:\bthanks\b")),
    "composite": parse_composite_spec,
    "exact-match": no_argument("exact-match", ExactMatchReward),
    "numeric-match": no_argument("numeric-match", NumericMatchReward),
    "answer-format": no_argument("answer-format", AnswerFormatReward),
    "bleu": no_argument("bleu", lambda: SacreBleuReward("bleu")),
    "chrf": no_argument("chrf", lambda: SacreBleuReward("chrf")),
    "rouge": lambda a: RougeReward(a or "rougeL"),
    "instruction-constraints": parse_constraints_spec,
    "harmlessness": parse_harmlessness_spec,
    "profanity-free": no_argument("profanity-free", ProfanityFreeReward),
    "refusal": no_argument("refusal", RefusalReward),
}
"""The built-in spec table, name -> factory of the argument after ':' (registered when ``reward_models`` is
imported; the task rewards' table is ``text_gym.tasks.rewards.TASK_REWARD_SPECS``)."""
