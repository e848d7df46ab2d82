"""Gold labellers, function rewards, composite rewards and the built-in spec strings."""

import numpy as np
import pytest

from reward_models import (
    CompositeReward,
    DistinctNGrams,
    KeywordReward,
    LengthReward,
    RegexReward,
    VaderSentiment,
    make_reward_model,
    registered_reward_models,
)


def test_vader_orders_clear_sentiment():
    scores = VaderSentiment()(["", "", ""], ["I love this, wonderful!", "It is a table.", "Terrible, I hate it."])
    assert scores[0] > 0.5 and scores[1] == 0.0 and scores[2] < -0.5
    with_prompt = make_reward_model("vader:with-prompt")(["Awful day. "], ["ok"])
    assert with_prompt[0] < 0


def test_distinct_ngrams():
    scores = DistinctNGrams(2)(["p"] * 4, ["great great great great", "the cat sat on the mat", "one", ""])
    np.testing.assert_allclose(scores, [1 / 3, 1.0, 0.0, 0.0])
    assert make_reward_model("distinct:1")(["p"], ["a a b b"])[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        DistinctNGrams(0)


def test_function_rewards():
    completions = ["one two three", "Good, GOOD goodness", ""]
    np.testing.assert_array_equal(LengthReward()(["p"] * 3, completions), [3, 3, 0])
    np.testing.assert_array_equal(make_reward_model("length:2")(["p"] * 3, completions), [-1, -1, -2])
    np.testing.assert_array_equal(KeywordReward(["good"])(["p"] * 3, completions), [0, 2, 0])  # whole words only
    np.testing.assert_array_equal(make_reward_model("keyword:two,three")(["p"] * 3, completions), [2, 0, 0])
    np.testing.assert_array_equal(RegexReward(r"^one")(["p"] * 3, completions), [1, 0, 0])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        RegexReward("(")


def test_composite_is_a_weighted_sum_calling_each_component_once():
    calls = []

    def counting(prompts, completions):
        calls.append(len(completions))
        return np.ones(len(completions))

    composite = CompositeReward([(2.0, counting), (-0.5, LengthReward())])
    np.testing.assert_allclose(composite(["p", "p"], ["a b", "a b c d"]), [2 - 1, 2 - 2])
    assert calls == [2]
    spec = make_reward_model("composite:1*length+0.5*keyword:a,b+regex:z")
    np.testing.assert_allclose(spec(["p", "p"], ["a b", "z"]), [2 + 0.5 * 2 + 0, 1 + 0 + 1])


def test_spec_errors_are_clear():
    assert {"sentiment", "hf", "vader", "distinct", "length", "keyword", "regex", "composite"} <= set(
        registered_reward_models()
    )
    with pytest.raises(ValueError, match="needs an argument"):
        make_reward_model("keyword")
    with pytest.raises(ValueError, match="must be an integer"):
        make_reward_model("length:ten")
    with pytest.raises(ValueError, match="composite term 'nope': unknown reward_model spec"):
        make_reward_model("composite:length+nope")
    with pytest.raises(ValueError, match="must return exactly one float per pair"):
        CompositeReward([(1.0, lambda p, c: [1.0])])(["p", "p"], ["a", "b"])
