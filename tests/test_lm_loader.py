"""``load_causal_lm``, the one causal-LM loader: from a folder, from a packaged name through
``resolve_model_path`` (monkeypatched), with the weight dtype and device asked for, frozen or trainable."""

from __future__ import annotations

import pytest
import torch
from tiny_lm import tiny_model

from reward_models.common import lm
from reward_models.common.lm import load_causal_lm


@pytest.fixture
def folder(tmp_path):
    model = tiny_model(seed=3)
    model.save_pretrained(tmp_path / "tiny")
    return tmp_path / "tiny", model


def test_a_folder_loads_frozen_in_eval_mode_with_the_saved_weights(folder):
    path, saved = folder
    loaded = load_causal_lm(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    for (name, a), b in zip(saved.state_dict().items(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_trainable_keeps_gradients_on(folder):
    loaded = load_causal_lm(folder[0], trainable=True)
    assert all(p.requires_grad for p in loaded.parameters())


def test_a_packaged_name_goes_through_resolve_model_path(folder, monkeypatch):
    asked = []

    def resolve(name):
        asked.append(name)
        return str(folder[0]) if name == "smollm2" else name

    monkeypatch.setattr(lm, "resolve_model_path", resolve)
    loaded = load_causal_lm("smollm2", dtype="float32")
    assert asked == ["smollm2"]
    torch.testing.assert_close(loaded.lm_head.weight, folder[1].lm_head.weight, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["bfloat16", torch.float16, "float32"])
def test_the_weight_dtype_is_honoured_when_loading_and_for_an_object(folder, dtype):
    expected = dtype if isinstance(dtype, torch.dtype) else getattr(torch, dtype)
    assert {p.dtype for p in load_causal_lm(folder[0], dtype=dtype).parameters()} == {expected}
    model = tiny_model()
    assert load_causal_lm(model, dtype=dtype, trainable=True) is model and model.dtype == expected
    with pytest.raises(ValueError, match=r"dtype must be None, a torch\.dtype or one of"):
        load_causal_lm(folder[0], dtype="int8")


def test_the_device_goes_through_the_auto_rule(folder, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert load_causal_lm(folder[0], device="auto").device == torch.device("cpu")


def test_an_object_that_is_not_a_causal_lm_is_refused_by_its_argument_name():
    with pytest.raises(TypeError, match=r"ref_model must be a causal LM .* got Linear"):
        load_causal_lm(torch.nn.Linear(2, 2), argument="ref_model")
