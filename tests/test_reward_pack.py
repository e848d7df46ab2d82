"""``pack_reward_model`` / ``text-gym reward pack`` with tiny BERT reward models: a full fine-tune stored in full at
full rank and as the best rank-r approximation below it, a LoRA-trained model packed exactly at its rank, the
folder loading through ``hf:<folder>``, the CLI line, and bad inputs."""

import json
import re

import numpy as np
import pytest
import torch
from tiny_reward import save_backbone, synthetic_pairs
from transformers import AutoModelForSequenceClassification

from reward_models import (
    HFRewardModel,
    PackConfig,
    RewardTrainerConfig,
    make_reward_model,
    pack_reward_model,
    train_reward_model,
)
from scripts.cli import main

PAIRS = synthetic_pairs(40, seed=4)
PROMPTS = [p.prompt for p in PAIRS] * 2
COMPLETIONS = [p.chosen for p in PAIRS] + [p.rejected for p in PAIRS]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return save_backbone(tmp_path_factory.mktemp("backbone") / "tiny-bert")


def _train(backbone, folder, **options):
    config = RewardTrainerConfig(
        model=backbone, output_dir=str(folder), num_train_epochs=3, batch_size=16, device="cpu", seed=0, **options
    )
    train_reward_model(config, synthetic_pairs(400, seed=0), synthetic_pairs(40, seed=1))
    return folder


@pytest.fixture(scope="module")
def full_tuned(backbone, tmp_path_factory):
    return _train(backbone, tmp_path_factory.mktemp("full") / "rm", learning_rate=1e-3)


@pytest.fixture(scope="module")
def lora_tuned(backbone, tmp_path_factory):
    return _train(backbone, tmp_path_factory.mktemp("lora") / "rm", learning_rate=1e-2, lora_r=4)


def _scores(folder):
    return HFRewardModel(folder)(PROMPTS, COMPLETIONS)


def _agreement(scores):
    """Fraction of ``PAIRS`` whose chosen completion scores higher."""
    return float((scores[: len(PAIRS)] > scores[len(PAIRS) :]).mean())


def _state(folder):
    return HFRewardModel(folder).model.state_dict()


def _base_state(backbone):
    return AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=1).state_dict()


def test_full_fine_tune_at_full_rank_is_stored_in_full_and_scores_like_the_original(full_tuned, backbone, tmp_path):
    # rank 32 >= the smaller side of every weight: factors would be larger than the weights, so all go in full
    result = pack_reward_model(
        PackConfig(model=str(full_tuned), base=backbone, output=str(tmp_path / "packed"), rank=32, dtype="float32")
    )
    assert result.low_rank_modules == [] and result.max_relative_error == 0.0
    assert {"classifier", "bert.embeddings.LayerNorm", "bert.encoder.layer.1.output.dense"} <= set(result.full_modules)
    original = _scores(full_tuned)
    assert _agreement(original) >= 0.9  # a trained model, far from its base: the tolerances below are tight
    np.testing.assert_allclose(_scores(tmp_path / "packed"), original, atol=1e-4)
    half = pack_reward_model(PackConfig(model=str(full_tuned), base=backbone, output=str(tmp_path / "half"), rank=32))
    assert half.adapter_bytes < 0.6 * result.adapter_bytes  # float16 by default
    np.testing.assert_allclose(_scores(tmp_path / "half"), original, atol=1e-2)


def test_low_rank_factors_are_the_best_rank_r_approximation(full_tuned, backbone, tmp_path):
    rank = 15  # the largest rank at which a 32 x 32 weight is smaller as factors
    result = pack_reward_model(
        PackConfig(model=str(full_tuned), base=backbone, output=str(tmp_path / "p"), rank=rank, dtype="float32")
    )
    assert {"bert.embeddings.word_embeddings", "bert.encoder.layer.0.attention.self.query"} <= set(
        result.low_rank_modules
    )
    # 2 x 32 token-type embeddings are too small to factor; LayerNorms and the head are not factored
    assert {"bert.embeddings.token_type_embeddings", "bert.embeddings.LayerNorm", "classifier"} <= set(
        result.full_modules
    )
    tuned, base, packed = _state(full_tuned), _base_state(backbone), _state(tmp_path / "p")
    errors = []
    for module in result.low_rank_modules:
        name = f"{module}.weight"
        difference = tuned[name] - base[name]
        singular = torch.linalg.svdvals(difference)
        best = (singular[rank:].square().sum() / singular.square().sum()).sqrt().item()  # Eckart–Young
        error = ((packed[name] - tuned[name]).norm() / difference.norm()).item()
        assert error == pytest.approx(best, rel=1e-3, abs=1e-6), module
        errors.append(error)
    assert result.max_relative_error == pytest.approx(max(errors), rel=1e-3)
    assert result.max_relative_error > 0.05  # a full fine-tune's deltas are not rank 15
    # everything else, the changed biases of the factored layers included, is exact
    for name in tuned:
        if name.rpartition(".")[0] not in result.low_rank_modules or name.endswith(".bias"):
            torch.testing.assert_close(packed[name], tuned[name], rtol=0, atol=0, msg=name)
    adapter = json.loads((tmp_path / "p" / "adapter_config.json").read_text())
    assert adapter["bias"] == "lora_only" and adapter["r"] == rank and adapter["lora_alpha"] == rank


def test_lora_trained_model_packs_exactly_at_its_rank(lora_tuned, backbone, tmp_path):
    from safetensors.torch import load_file

    keys = load_file(lora_tuned / "adapter_model.safetensors")
    trained = sorted({key.split(".lora_A")[0].removeprefix("base_model.model.") for key in keys if ".lora_A" in key})
    original = _scores(lora_tuned)
    assert _agreement(original) >= 0.9
    for rank in (4, 8):
        result = pack_reward_model(
            PackConfig(model=str(lora_tuned), base=backbone, output=str(tmp_path / "p"), rank=rank, dtype="float32")
        )
        assert result.low_rank_modules == trained and result.full_modules == ["classifier"]
        assert result.max_relative_error < 1e-4  # the trained deltas have rank 4: only float32 rounding is left
        np.testing.assert_allclose(_scores(tmp_path / "p"), original, atol=1e-4)
    adapter = json.loads((tmp_path / "p" / "adapter_config.json").read_text())
    assert adapter["bias"] == "none" and adapter["base_model_name_or_path"] == backbone
    # the fully trained head, plus peft's own sequence-classification head names (peft 0.22 adds "pre_classifier")
    assert "classifier" in adapter["modules_to_save"]
    half = pack_reward_model(PackConfig(model=str(lora_tuned), base=backbone, output=str(tmp_path / "h"), rank=4))
    assert 1e-5 < half.max_relative_error < 2e-3  # float16 rounding of the factors
    assert half.adapter_bytes < 0.6 * (lora_tuned / "adapter_model.safetensors").stat().st_size
    np.testing.assert_allclose(_scores(tmp_path / "h"), original, atol=1e-2)


def test_packed_folder_loads_as_an_hf_spec_with_the_trained_settings(lora_tuned, backbone, tmp_path):
    pack_reward_model(PackConfig(model=str(lora_tuned), base=backbone, output=str(tmp_path / "p"), rank=4))
    loaded = make_reward_model(f"hf:{tmp_path / 'p'}")
    assert isinstance(loaded, HFRewardModel)
    assert loaded.settings() == HFRewardModel(lora_tuned).settings()
    assert (tmp_path / "p" / "reward_model.json").read_bytes() == (lora_tuned / "reward_model.json").read_bytes()
    assert (tmp_path / "p" / "tokenizer.json").is_file()
    np.testing.assert_allclose(loaded(PROMPTS, COMPLETIONS), _scores(lora_tuned), atol=1e-2)


def test_cli_pack_writes_the_folder_and_prints_one_line(lora_tuned, backbone, tmp_path, capsys):
    output = tmp_path / "packed"
    command = ["reward", "pack", "--model", str(lora_tuned), "--base", backbone, "--rank", "4"]
    assert main([*command, "--output", str(output)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    match = re.fullmatch(
        rf"wrote {re.escape(str(output))}: (\d+\.\d\d) MB of adapter weights \(float16; 13 modules as rank-4 "
        r"factors, 1 in full\), max relative error of the low-rank factors (\S+)",
        lines[0],
    )
    assert match, lines[0]
    assert float(match[1]) == pytest.approx((output / "adapter_model.safetensors").stat().st_size / 1e6, abs=0.01)
    assert float(match[2]) < 2e-3
    np.testing.assert_allclose(_scores(output), _scores(lora_tuned), atol=1e-2)


def _tiny_gpt2(folder):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    GPT2ForSequenceClassification(
        GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64, n_positions=64)
    ).save_pretrained(folder)
    return str(folder)


def _narrow_bert(folder):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    BertForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


def test_bad_inputs_name_the_argument_and_write_nothing(lora_tuned, backbone, tmp_path, capsys):
    with pytest.raises(ValueError, match="rank must be an integer >= 1, got 0"):
        PackConfig(rank=0)
    with pytest.raises(ValueError, match="dtype must be one of"):
        PackConfig(dtype="bfloat16")
    output = tmp_path / "out"
    assert main(["reward", "pack", "--model", str(lora_tuned), "--rank", "0", "--output", str(output)]) == 1
    assert "text-gym reward pack: error: rank must be an integer >= 1, got 0" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    cases = [
        (dict(model=str(tmp_path / "missing")), r"model='.*missing' is not a folder"),
        (dict(model=str(tmp_path / "empty")), r"model='.*empty' is not a reward-model folder"),
        (dict(output=str(lora_tuned)), r"output='.*' is the model folder"),
        (dict(base=str(tmp_path / "no-base")), r"base='.*no-base' could not be loaded as a model"),
        (dict(base=_tiny_gpt2(tmp_path / "gpt2")), r"base='.*gpt2' is a 'gpt2' model, model='.*' a 'bert' one"),
        (
            dict(base=_narrow_bert(tmp_path / "narrow")),
            r"base='.*narrow' does not fit model='.*': bert\.embeddings\.\w+\.weight has shape \(\d+, 16\) in the "
            r"base and \(\d+, 32\) in the model",
        ),
    ]
    for options, message in cases:
        config = PackConfig(**{"model": str(lora_tuned), "base": backbone, "output": str(output), **options})
        with pytest.raises(ValueError, match=message):
            pack_reward_model(config)
        assert not output.exists()
