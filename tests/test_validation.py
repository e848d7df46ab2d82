"""reward_models.check_positive_int: the one integer-argument check every package uses."""

import re

import numpy as np
import pytest

from reward_models import check_positive_int


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1)])
def test_accepts_integers_and_returns_a_python_int(value):
    result = check_positive_int("n", value)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "3", None, np.float64(2)])
def test_rejects_non_integers_bools_and_values_below_one(value):
    with pytest.raises(ValueError, match=f"^{re.escape(f'n must be an integer >= 1, got {value!r}')}$"):
        check_positive_int("n", value)


def test_minimum():
    assert check_positive_int("completions_per_prompt", 2, minimum=2) == 2
    with pytest.raises(ValueError, match="completions_per_prompt must be an integer >= 2, got 1"):
        check_positive_int("completions_per_prompt", 1, minimum=2)
