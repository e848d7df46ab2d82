"""The agents' configs take their valid choices from the fields' Literal types (one list of values per field)."""

import re

import pytest

from agents import PPOConfig, REINFORCEConfig


@pytest.mark.parametrize(
    ("cls", "field", "value", "valid"),
    [
        (PPOConfig, "lr_schedule", "cosine", "('constant', 'linear')"),
        (PPOConfig, "kl_estimator", "k2", "('k1', 'k3')"),
        (PPOConfig, "dtype", "int8", "('float32', 'bfloat16', 'float16')"),
        (REINFORCEConfig, "torch_dtype", "float64", "('float32', 'bfloat16', 'float16')"),
        (REINFORCEConfig, "baseline", "ppo", "('moving_average', 'rloo', 'grpo')"),
    ],
)
def test_a_value_outside_the_literal_is_refused_naming_field_and_choices(cls, field, value, valid):
    with pytest.raises(ValueError, match=rf"^{field} must be one of {re.escape(valid)}, got '{value}'$"):
        cls(**{field: value})


def test_every_literal_value_is_accepted():
    for estimator in ("k1", "k3"):
        assert PPOConfig(kl_estimator=estimator).kl_estimator == estimator
    for baseline in ("moving_average", "rloo", "grpo"):
        assert REINFORCEConfig(baseline=baseline).baseline == baseline
