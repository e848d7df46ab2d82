"""Reference-based rewards (reward_models.models.reference) and answer extraction (reward_models.models.answers)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from reward_models import call_reward, extract_answer, make_reward_model
from reward_models.models.answers import parse_reference_number
from reward_models.models.reference import normalize_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer is 12.", 12.0),
        ("3 + 5 = 8", 8.0),
        ("It costs 1,234 dollars", 1234.0),
        ("0.5 of it", 0.5),
        ("= -5", -5.0),
        ("-5", -5.0),
        ("−3 degrees", -3.0),
        ("12-7", 7.0),  # a binary minus is not a sign
        ("$42", 42.0),
        ("42%", 42.0),
        ("(7)", 7.0),
        ("１２", 12.0),  # full-width digits (NFKC)
        ("first 3 then \\boxed{42} and 7 more", 42.0),  # a boxed answer wins over later numbers
        ("\\boxed{1} ... \\boxed{ 2 }", 2.0),  # the last box
        ("\\boxed{x = 4}", 4.0),
        ("\\boxed{1,000}", 1000.0),
        ("\\boxed{3", 3.0),  # an unclosed box is ignored
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text", ["", "no numbers here", "x2 and 3rd", "3/4", "v1.2", "\\boxed{x} but 5 outside", "\\boxed{\\frac{1}{2}}"]
)
def test_extract_answer_gives_none_when_there_is_no_answer(text):
    assert extract_answer(text) is None


def test_numeric_match_scores_and_documented_zero():
    reward = make_reward_model("numeric-match")
    completions = ["\\boxed{8}", "so 3 + 5 = 8.", "I think 9", "no idea", "8.0000000001"]
    np.testing.assert_array_equal(
        call_reward(reward, ["p"] * 5, completions, {"answer": [8, "8", 8.0, 8, 8]}), [1, 1, 0, 0, 1]
    )


@pytest.mark.parametrize("answer", [None, "eight", "1 or 2", float("nan"), True])
def test_numeric_match_unparsable_reference_is_a_clear_error(answer):
    reward = make_reward_model("numeric-match")
    with pytest.raises(ValueError, match=r"answer\[1\] = .* (is not a number|is not a finite number)"):
        call_reward(reward, ["p", "p"], ["1", "2"], {"answer": [1, answer]})


def test_parse_reference_number():
    assert parse_reference_number(" 1,234 ", "a") == 1234.0 and parse_reference_number(-7, "a") == -7.0


def test_exact_match_normalises_and_accepts_lists():
    reward = make_reward_model("exact-match")
    completions = ["  Paris. ", "PARIS!", "paris, france", "Lyon", "anything"]
    answers = ["paris", "Paris", "Paris", ["Lyon", "Lyons"], None]
    np.testing.assert_array_equal(call_reward(reward, ["p"] * 5, completions, {"answer": answers}), [1, 1, 0, 1, 0])
    assert normalize_answer("  Ｈｅｌｌｏ   World?! ") == "hello world"


def test_answer_format_rewards_a_boxed_number():
    reward = make_reward_model("answer-format")
    np.testing.assert_array_equal(reward(["p"] * 3, ["\\boxed{4}", "4", "\\boxed{four}"]), [1, 0, 0])


def test_bleu_chrf_and_rouge_match_the_libraries():
    sacrebleu = pytest.importorskip("sacrebleu")
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    completions = ["the cat sat on the mat", "a dog ran in the park"]
    references = [["the cat sat on the mat", "a cat was sitting"], "the dog ran through the park"]
    fields = {"references": references}
    refs = [references[0], [references[1]]]
    bleu = call_reward(make_reward_model("bleu"), ["p"] * 2, completions, fields)
    chrf = call_reward(make_reward_model("chrf"), ["p"] * 2, completions, fields)
    rouge = call_reward(make_reward_model("rouge:rouge1"), ["p"] * 2, completions, fields)
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    for i, completion in enumerate(completions):
        assert bleu[i] == pytest.approx(sacrebleu.sentence_bleu(completion, refs[i]).score / 100)
        assert chrf[i] == pytest.approx(sacrebleu.sentence_chrf(completion, refs[i]).score / 100)
        best = max(scorer.score(r, completion)["rouge1"].fmeasure for r in refs[i])
        assert rouge[i] == pytest.approx(best)
    assert bleu[0] == pytest.approx(1.0) and 0 < bleu[1] < 1


def test_reference_metric_bad_inputs():
    with pytest.raises(ValueError, match=r"references\[0\] must be a string or a non-empty list"):
        call_reward(make_reward_model("rouge"), ["p"], ["x"], {"references": [[]]})
    with pytest.raises(ValueError, match="ROUGE variant must be one of"):
        make_reward_model("rouge:rouge9")
    with pytest.raises(ValueError, match=r"needs the per-prompt field\(s\) \['references'\]"):
        call_reward(make_reward_model("bleu"), ["p"], ["x"], {"answer": ["x"]})


def test_missing_metrics_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(ImportError, match=r"the 'bleu' reward needs .*sacrebleu.*pip install \"text-gym\[metrics\]\""):
        make_reward_model("bleu")
