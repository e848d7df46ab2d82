"""HFRewardModel: batching, head selection, prompt use, normalisation, save/reload, spec strings."""

import json
import math

import numpy as np
import pytest
import torch
from tiny_reward import PROMPTS, save_backbone, tiny_bert, tiny_bert_tokenizer

from reward_models import REWARD_CONFIG_NAME, HFRewardModel, make_reward_model, resolve_dtype

COMPLETIONS = [
    "good movie",
    "the food was awful",
    "it was so very nice and happy",
    "bad",
    "we love it",
    "they hate the day so",
    "a film",
    "sad",
    "it is poor",
    "great great",
]
PAIR_PROMPTS = [PROMPTS[i % len(PROMPTS)] for i in range(len(COMPLETIONS))]


def make_model(num_labels=1, **kwargs):
    tokenizer = tiny_bert_tokenizer()
    return HFRewardModel(tiny_bert(num_labels, vocab_size=len(tokenizer)), tokenizer, **kwargs)


def test_scoring_is_batched_one_forward_per_batch_and_order_independent():
    model = make_model(max_batch_size=4)
    calls = []
    model.model.register_forward_hook(lambda module, args, output: calls.append(output.logits.shape[0]))
    scores = model.score(PAIR_PROMPTS, COMPLETIONS)
    assert sorted(calls) == [2, 4, 4]  # 10 pairs, at most 4 per forward pass, one pass per batch
    single = np.concatenate([model.score([p], [c]) for p, c in zip(PAIR_PROMPTS, COMPLETIONS, strict=False)])
    np.testing.assert_allclose(scores, single, atol=1e-5)  # padding and sorting do not change a score
    assert scores.shape == (10,) and scores.dtype == np.float64


def test_dropout_is_off_when_scoring():
    model = make_model()
    model.model.config.hidden_dropout_prob = 0.5
    np.testing.assert_array_equal(model.score(PAIR_PROMPTS, COMPLETIONS), model.score(PAIR_PROMPTS, COMPLETIONS))
    assert not model.model.training


def test_label_index_and_logit_difference():
    model = make_model(num_labels=3, label_index=2)
    batch = model.encode(PAIR_PROMPTS[:3], COMPLETIONS[:3])
    with torch.no_grad():
        logits = model.model(**batch).logits.numpy()
    np.testing.assert_allclose(model.raw_score(PAIR_PROMPTS[:3], COMPLETIONS[:3]), logits[:, 2], atol=1e-5)
    model.negative_label_index = 0
    np.testing.assert_allclose(
        model.raw_score(PAIR_PROMPTS[:3], COMPLETIONS[:3]), logits[:, 2] - logits[:, 0], atol=1e-5
    )
    with pytest.raises(ValueError, match="pass label_index"):
        make_model(num_labels=2)
    with pytest.raises(ValueError, match=r"label_index must be in \[0, 2\)"):
        make_model(num_labels=2, label_index=2)


def test_completion_only_ignores_the_prompt():
    with_prompt, completion_only = make_model(), make_model(include_prompt=False)
    a = completion_only.score(["the movie was"] * 3, COMPLETIONS[:3])
    b = completion_only.score(["my day felt"] * 3, COMPLETIONS[:3])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(
        with_prompt.score(["the movie was"] * 3, COMPLETIONS[:3]),
        with_prompt.score(["my day felt"] * 3, COMPLETIONS[:3]),
    )


def test_normalisation_gives_mean_zero_std_one_on_the_reference_sample():
    model = make_model()
    mean, std = model.fit_normalization(PAIR_PROMPTS, COMPLETIONS)
    scores = model.score(PAIR_PROMPTS, COMPLETIONS)
    assert scores.mean() == pytest.approx(0.0, abs=1e-6) and scores.std() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(model.raw_score(PAIR_PROMPTS, COMPLETIONS), scores * std + mean, atol=1e-6)
    with pytest.raises(ValueError, match="std > 0"):
        make_model(std=0.0)


def test_save_and_reload_scores_identically_with_settings(tmp_path):
    model = make_model(include_prompt=False, max_length=16)
    model.fit_normalization(PAIR_PROMPTS, COMPLETIONS)
    model.save_pretrained(tmp_path / "rm")
    stored = json.loads((tmp_path / "rm" / REWARD_CONFIG_NAME).read_text())
    assert stored == {
        "label_index": 0,
        "negative_label_index": None,
        "include_prompt": False,
        "max_length": 16,
        "mean": model.mean,
        "std": model.std,
    }
    reloaded = HFRewardModel(tmp_path / "rm")
    assert reloaded.settings() == model.settings()
    np.testing.assert_allclose(
        reloaded.score(PAIR_PROMPTS, COMPLETIONS), model.score(PAIR_PROMPTS, COMPLETIONS), rtol=1e-4, atol=1e-4
    )  # equal up to multi-thread summation order


def test_hf_spec_string_with_options(tmp_path):
    folder = save_backbone(tmp_path / "clf", num_labels=2)
    model = make_reward_model(
        f"hf:{folder}?label_index=1&negative_label_index=0&include_prompt=false"
        "&max_batch_size=2&dtype=float32&normalize=false"
    )
    assert isinstance(model, HFRewardModel)
    assert (model.label_index, model.negative_label_index, model.include_prompt, model.max_batch_size) == (
        1,
        0,
        False,
        2,
    )
    assert model(PAIR_PROMPTS, COMPLETIONS).shape == (10,)
    with pytest.raises(ValueError, match="unknown hf reward-model option 'colour'"):
        make_reward_model(f"hf:{folder}?colour=red")
    with pytest.raises(ValueError, match="needs an argument"):
        make_reward_model("hf")


def test_bfloat16_scores_close_to_float32(tmp_path):
    folder = save_backbone(tmp_path / "clf")
    full, half = HFRewardModel(folder), HFRewardModel(folder, dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    np.testing.assert_allclose(half.score(PAIR_PROMPTS, COMPLETIONS), full.score(PAIR_PROMPTS, COMPLETIONS), atol=0.05)
    with pytest.raises(ValueError, match="dtype must be"):
        HFRewardModel(folder, dtype="float8")
    assert math.isfinite(float(full.score(["x"], [""])[0]))  # an empty completion still scores


def test_resolve_dtype_maps_names_and_passes_dtypes_through():
    assert [resolve_dtype(n) for n in ("float32", "bfloat16", "float16")] == [
        torch.float32,
        torch.bfloat16,
        torch.float16,
    ]
    assert resolve_dtype(torch.float64) is torch.float64 and resolve_dtype(None) is None
    with pytest.raises(
        ValueError,
        match=r"dtype must be None, a torch.dtype or one of "
        r"\['float32', 'bfloat16', 'float16'\], got 'fp16'",
    ):
        resolve_dtype("fp16")


def test_missing_local_folder_is_named_in_the_error(tmp_path):
    missing = tmp_path / "no-such-rm"
    with pytest.raises(FileNotFoundError, match=f"model folder not found: {missing} "):
        HFRewardModel(str(missing))


def test_loading_prints_no_transformers_progress_bar(tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    folder = save_backbone(tmp_path / "rm")
    hf_logging.enable_progress_bar()
    HFRewardModel(folder)
    captured = capsys.readouterr()
    assert "Loading weights" not in captured.err + captured.out
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is restored
