"""The agents' configs take their valid choices from the fields' Literal types (one list of values per field)."""

import re

import pytest

from agents import PPOConfig, REINFORCEConfig


@pytest.mark.parametrize(
    ("cls", "field", "value", "valid"),
    [
        (PPOConfig, "lr_schedule", "cosine", "('constant', 'linear')"),
        (PPOConfig, "kl_estimator", "k2", "('k1', 'k3')"),
        (PPOConfig, "compute_dtype", "int8", "('float32', 'bfloat16', 'float16')"),
        (REINFORCEConfig, "weight_dtype", "float64", "('float32', 'bfloat16', 'float16')"),
        (REINFORCEConfig, "baseline", "ppo", "('moving_average', 'rloo', 'grpo')"),
    ],
)
def test_a_value_outside_the_literal_is_refused_naming_field_and_choices(cls, field, value, valid):
    with pytest.raises(ValueError, match=rf"^{field} must be one of {re.escape(valid)}, got '{value}'$"):
        cls(**{field: value})


def test_a_config_of_another_algorithm_is_refused():
    from agents import REINFORCE, GRPOConfig

    with pytest.raises(TypeError, match="config must be a REINFORCEConfig, got a GRPOConfig"):
        REINFORCE("unused", "TextGen-v0", config=GRPOConfig())


def test_every_literal_value_is_accepted():
    for estimator in ("k1", "k3"):
        assert PPOConfig(kl_estimator=estimator).kl_estimator == estimator
    for baseline in ("moving_average", "rloo", "grpo"):
        assert REINFORCEConfig(baseline=baseline).baseline == baseline


@pytest.mark.parametrize(("alias", "field"), [("dtype", "compute_dtype"), ("torch_dtype", "weight_dtype")])
def test_the_old_dtype_names_warn_and_set_the_new_fields(alias, field):
    flags = rf"\(--{alias.replace('_', '-')}\) is deprecated; use {field} \(--{field.replace('_', '-')}\)"
    with pytest.warns(DeprecationWarning, match=rf"^{alias} {flags}"):
        config = PPOConfig(**{alias: "bfloat16"})
    assert getattr(config, field) == "bfloat16" and getattr(config, alias) is None
    assert PPOConfig(**{alias: "bfloat16"}) == PPOConfig(**{field: "bfloat16"})
    with pytest.raises(ValueError, match=rf"^{field} must be one of"), pytest.warns(DeprecationWarning):
        PPOConfig(**{alias: "int8"})
    with (
        pytest.raises(ValueError, match=rf"{alias}='bfloat16' is a deprecated alias of {field}, which is 'float16'"),
        pytest.warns(DeprecationWarning),
    ):
        PPOConfig(**{alias: "bfloat16", field: "float16"})


def test_a_saved_record_with_the_old_dtype_names_loads_without_a_warning():
    import warnings

    from reward_models.common.deprecation import without_deprecated_aliases

    old = {"dtype": "bfloat16", "torch_dtype": "float16", "lora_r": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = PPOConfig(**without_deprecated_aliases(PPOConfig, old))
    assert (config.compute_dtype, config.weight_dtype, config.dtype, config.torch_dtype) == (
        "bfloat16",
        "float16",
        None,
        None,
    )
