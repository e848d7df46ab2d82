"""Instruction constraints (reward_models.models.constraints): every checker on hand-made positive and negative cases,
including punctuation, Unicode and trailing-whitespace edge cases, and the reward built from them."""

from __future__ import annotations

import numpy as np
import pytest

from reward_models import (
    CONSTRAINTS,
    InstructionConstraintsReward,
    call_reward,
    check_constraint,
    describe_constraint,
    make_reward_model,
)
from reward_models.models.constraints import count_sentences

# (constraint, texts that meet it, texts that do not)
CASES = [
    (
        {"type": "word_count", "min": 2, "max": 4},
        ["two words", "don't stop believing now", "café au lait  \n", "well-known fact."],
        ["one", "this has five words here", "", "... !!!"],
    ),
    (
        {"type": "include_words", "words": ["river", "Sun"]},
        ["The SUN rose over the river.", "river, sun!", "sun—river"],
        ["The sunny riverside", "only the river", "rivers and suns"],
    ),
    (
        {"type": "exclude_words", "words": ["very", "good"]},
        ["Everything is fine.", "goodness me", "everybody"],
        ["It was VERY nice.", "good.", "so good\n"],
    ),
    (
        {"type": "keyword_frequency", "word": "tea", "min": 2},
        ["Tea, tea and more TEA", "tea. tea."],
        ["tea and teapots", "steady tea"],
    ),
    (
        {"type": "lowercase"},
        ["all lower case, 123!", "über straße\n", "ça va"],
        ["Not lower", "ÜBER", "123 !!", ""],
    ),
    (
        {"type": "uppercase"},
        ["ALL CAPS, 42!", "ÜBER STRASSE  ", "ÇA VA"],
        ["ALL CAPS but one", "42", "Straße"],
    ),
    (
        {"type": "start_with", "phrase": "Sure"},
        ["Sure, here it is.", "  sure thing", "SURE"],
        ["I am sure", "Surely", ""],
    ),
    (
        {"type": "end_with", "phrase": "That is all."},
        ["Done. That is all.", "that is all.  \n", "THAT IS ALL."],
        ["That is all", "That is all. Bye", "That is all!", "Stall. That is all.x", "Baseball."],
    ),
    (
        {"type": "no_commas"},
        ["No commas here.", "semi; colons: fine", "日本語。"],
        ["one, two", "中文，逗号", "日本、語", "a﹐b"],
    ),
    (
        {"type": "bullet_points", "count": 2},
        ["* one\n* two", "- one\n  - two\n", "• one\n• two\nnot a bullet"],
        ["* one", "* one\n* two\n* three", "*bold* text\n* two", "**one**\n**two**"],
    ),
    (
        {"type": "sentence_count", "min": 2, "max": 2},
        ["One. Two!", "It costs 3.5 euros. Really?", "中文。日本語！", 'He said "hi." Then left.'],
        ["One.", "One. Two. Three.", "A. B? C!", "... ! ?"],
    ),
    (
        {"type": "json_keys", "keys": ["title", "summary"]},
        [
            '{"title": "a", "summary": "b"}',
            '```json\n{"title": 1, "summary": 2, "x": 3}\n```\n',
            ' {"title":"é","summary":""} ',
        ],
        ['{"title": "a"}', '["title", "summary"]', 'Here: {"title": "a", "summary": "b"}', "{title: a}"],
    ),
    (
        {"type": "title"},
        ["<<A day at sea>>\nText", "Intro <<Titre à la mer>> end"],
        ["<< >>", "<<>>", "<A title>", "<<two\nlines>>", "no title"],
    ),
    (
        {"type": "postscript", "marker": "P.S."},
        ["Hello.\nP.S. see you", "Hi\n  p.s. later", "P.S.: thanks"],
        ["Hello P.S. inline", "Hello.\nP.S.", "PS see you"],
    ),
    (
        {"type": "repeat_request", "text_to_repeat": "Tell me about the moon."},
        ["Tell me about the moon. The moon is...", "  tell me   about the MOON.\nIt is round."],
        ["The moon. Tell me about the moon.", "Tell me about the moon", "Tell me about the sun."],
    ),
    (
        {"type": "quotation"},
        ['"Quoted answer."', "“Curly quotes”  \n"],
        ['"', 'Not quoted"', '"half', "'single'"],
    ),
]


def test_every_constraint_type_has_cases_and_at_least_twelve_exist():
    assert len(CONSTRAINTS) >= 12
    assert {case[0]["type"] for case in CASES} == set(CONSTRAINTS)


@pytest.mark.parametrize("constraint, positives, negatives", CASES, ids=[case[0]["type"] for case in CASES])
def test_checker_on_hand_made_cases(constraint, positives, negatives):
    for text in positives:
        assert check_constraint(text, constraint), (constraint, text)
    for text in negatives:
        assert not check_constraint(text, constraint), (constraint, text)


@pytest.mark.parametrize("constraint", [case[0] for case in CASES], ids=[case[0]["type"] for case in CASES])
def test_each_constraint_has_an_instruction(constraint):
    text = describe_constraint(constraint)
    assert text.endswith((".", "P.S.")) and len(text) > 10


def test_count_sentences_edge_cases():
    assert count_sentences("") == 0
    assert count_sentences("No final stop") == 1
    assert count_sentences("Wait... what?! Yes.") == 3
    assert count_sentences("Version 2.0 is out.  ") == 1


@pytest.mark.parametrize(
    "constraint, message",
    [
        ({"type": "shouting"}, "unknown constraint type 'shouting'"),
        ({"min": 1}, "a 'type' key"),
        ("lowercase", "a 'type' key"),
        ({"type": "word_count", "min": 1}, r"takes the parameters \['min', 'max'\]"),
        ({"type": "lowercase", "extra": 1}, "takes the parameters"),
    ],
)
def test_invalid_constraints_are_clear_errors(constraint, message):
    with pytest.raises(ValueError, match=message):
        check_constraint("text", constraint)


def test_reward_is_the_fraction_met_and_gold_is_all_met():
    constraints = [[{"type": "lowercase"}, {"type": "no_commas"}], [{"type": "lowercase"}, {"type": "no_commas"}]]
    completions = ["all lower, with comma", "all lower no comma"]
    reward = make_reward_model("instruction-constraints")
    gold = make_reward_model("instruction-constraints:all")
    assert isinstance(reward, InstructionConstraintsReward) and gold.all_required
    fields = {"constraints": constraints}
    np.testing.assert_allclose(call_reward(reward, ["p", "p"], completions, fields), [0.5, 1.0])
    np.testing.assert_allclose(call_reward(gold, ["p", "p"], completions, fields), [0.0, 1.0])


def test_an_empty_or_wordless_answer_meets_nothing():
    fields = {"constraints": [[{"type": "no_commas"}, {"type": "word_count", "min": 0, "max": 20}]] * 3}
    reward = make_reward_model("instruction-constraints")
    np.testing.assert_array_equal(call_reward(reward, ["p"] * 3, ["", "  \n", "..."], fields), [0.0, 0.0, 0.0])


def test_reward_bad_constraint_rows_name_their_position():
    reward = make_reward_model("instruction-constraints")
    with pytest.raises(ValueError, match=r"constraints\[1\] must be a non-empty list"):
        call_reward(reward, ["p", "p"], ["a", "b"], {"constraints": [[{"type": "title"}], []]})
    with pytest.raises(ValueError, match=r"constraints\[0\]: unknown constraint type"):
        call_reward(reward, ["p"], ["a"], {"constraints": [[{"type": "nope"}]]})
    with pytest.raises(ValueError, match=r"needs the per-prompt field\(s\) \['constraints'\]"):
        call_reward(reward, ["p"], ["a"], {})
    with pytest.raises(ValueError, match="unknown constraint type"):
        call_reward(reward, ["p"], ["a"], {"constraints": [[{"type": "nope"}]]})
    with pytest.raises(ValueError, match="must be 'all' or none"):
        make_reward_model("instruction-constraints:some")


def test_start_and_end_phrases_match_whole_words():
    assert check_constraint("A ball.", {"type": "end_with", "phrase": "ball."})
    assert not check_constraint("Baseball.", {"type": "end_with", "phrase": "ball."})
    assert check_constraint("...and that is all.", {"type": "end_with", "phrase": ".and that is all."})
    assert check_constraint("Well, yes", {"type": "start_with", "phrase": "Well,"})
    assert not check_constraint("Wellness", {"type": "start_with", "phrase": "Well"})
