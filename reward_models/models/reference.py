"""Reference-based rewards: each compares the completion with a per-prompt field of the prompt data.

=====================  ===============  ==============================================================================
spec                   field            score
=====================  ===============  ==============================================================================
``exact-match``        ``answer``       1.0 when the normalised completion equals the normalised answer (or any of a
                                        list of answers), else 0.0; normalised = NFKC, case-folded, whitespace
                                        collapsed, surrounding whitespace and trailing ``.!?`` removed
``numeric-match``      ``answer``       1.0 when the completion's final number (``reward_models.models.answers``:
last
                                        ``\\boxed{}`` or last number) equals the answer, else 0.0 (no number: 0.0)
``answer-format``      none             1.0 when the completion gives a number in ``\\boxed{}``, else 0.0
``bleu``               ``references``   sentence BLEU (sacrebleu, default tokenizer) / 100, in [0, 1]
``chrf``               ``references``   sentence chrF (sacrebleu) / 100, in [0, 1]
``rouge[:variant]``    ``references``   ROUGE F1 (rouge-score, Porter stemmer), best over the references; variant
                                        ``rouge1``, ``rouge2``, ``rougeL`` (default) or ``rougeLsum``
=====================  ===============  ==============================================================================

``answer`` is a string or number (a list of strings for several accepted answers, exact match only); a missing
answer (``None``) scores 0.0 for exact match and raises ``ValueError`` for numeric match, as does an answer that is
not a number. ``references`` is a string or a non-empty list of strings. BLEU / chrF / ROUGE need the ``metrics``
extra: ``pip install "text-gym[metrics]"`` (sacrebleu, rouge-score).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

from reward_models.base import BaseRewardModel
from reward_models.common.extras import require_extra
from reward_models.models.answers import extract_answer, has_boxed_number, numbers_equal, parse_reference_number

ROUGE_VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def normalize_answer(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed, surrounding whitespace and trailing ``.``, ``!``, ``?`` removed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).rstrip(".!?").strip()


def _references(value: object, index: int) -> list[str]:
    references = [value] if isinstance(value, str) else value
    if not isinstance(references, (list, tuple)) or not references or not all(isinstance(r, str) for r in references):
        raise ValueError(f"references[{index}] must be a string or a non-empty list of strings, got {value!r}")
    return list(references)


class ExactMatchReward(BaseRewardModel):
    """1.0 when the normalised completion (``normalize_answer``) equals the normalised ``answer``, or any of a
    list of answers; a row whose answer is ``None`` scores 0.0."""

    def score(self, prompts: Sequence[str], completions: Sequence[str], answer: Sequence[object]) -> np.ndarray:
        scores = np.zeros(len(completions))
        for index, (completion, accepted) in enumerate(zip(completions, answer, strict=True)):
            if accepted is None:
                continue
            options = accepted if isinstance(accepted, (list, tuple)) else [accepted]
            if normalize_answer(completion) in {normalize_answer(str(option)) for option in options}:
                scores[index] = 1.0
        return scores


class NumericMatchReward(BaseRewardModel):
    """1.0 when the completion's final number (``reward_models.models.answers.extract_answer``) equals ``answer``
    (relative tolerance 1e-9), else 0.0; a completion without a number scores 0.0. An ``answer`` that is not a
    number raises ``ValueError`` naming its batch position."""

    def score(self, prompts: Sequence[str], completions: Sequence[str], answer: Sequence[object]) -> np.ndarray:
        scores = np.zeros(len(completions))
        for index, (completion, reference) in enumerate(zip(completions, answer, strict=True)):
            expected = parse_reference_number(reference, f"answer[{index}]")
            predicted = extract_answer(completion)
            scores[index] = float(predicted is not None and numbers_equal(predicted, expected))
        return scores


class AnswerFormatReward(BaseRewardModel):
    """1.0 when the completion puts a number in ``\\boxed{}`` (the requested answer format), else 0.0."""

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return np.array([has_boxed_number(c) for c in completions], dtype=np.float64)


class SacreBleuReward(BaseRewardModel):
    """Sentence-level BLEU (``metric="bleu"``) or chrF (``metric="chrf"``) from sacrebleu against ``references``,
    divided by 100 to lie in [0, 1]."""

    def __init__(self, metric: str = "bleu") -> None:
        if metric not in ("bleu", "chrf"):
            raise ValueError(f"metric must be 'bleu' or 'chrf', got {metric!r}")
        sacrebleu = require_extra("sacrebleu", "metrics", f"the {metric!r} reward")
        self.metric = metric
        self._score = sacrebleu.sentence_bleu if metric == "bleu" else sacrebleu.sentence_chrf

    def score(self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[object]) -> np.ndarray:
        return np.array(
            [
                self._score(completion, _references(refs, index)).score / 100.0
                for index, (completion, refs) in enumerate(zip(completions, references, strict=True))
            ],
            dtype=np.float64,
        )


class RougeReward(BaseRewardModel):
    """ROUGE F1 from rouge-score (Porter stemmer) against ``references``: the best over the references."""

    def __init__(self, variant: str = "rougeL") -> None:
        if variant not in ROUGE_VARIANTS:
            raise ValueError(f"ROUGE variant must be one of {ROUGE_VARIANTS}, got {variant!r}")
        self.variant = variant
        rouge_scorer = require_extra("rouge_score.rouge_scorer", "metrics", "the rouge reward")
        self.scorer = rouge_scorer.RougeScorer([variant], use_stemmer=True)

    def score(self, prompts: Sequence[str], completions: Sequence[str], references: Sequence[object]) -> np.ndarray:
        return np.array(
            [
                self.scorer.score_multi(_references(refs, index), completion)[self.variant].fmeasure
                for index, (completion, refs) in enumerate(zip(completions, references, strict=True))
            ],
            dtype=np.float64,
        )
