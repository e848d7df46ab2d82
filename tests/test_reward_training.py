"""Bradley–Terry training with tiny models: learning a separable rule, best checkpoint, peft LoRA (only adapters and
head train, merged save/reload, target modules, bad settings) + delta packing,
save/reload, the env end to end with a trained reward model, and the ``text-gym reward`` CLI."""

import json

import numpy as np
import pytest
import torch
from tiny_reward import PROMPTS, save_backbone, synthetic_pairs
from transformers import AutoModelForSequenceClassification

from reward_models import (
    HFRewardModel,
    PreferencePair,
    RewardTrainerConfig,
    append_preferences,
    evaluate_preferences,
    load_delta_model,
    save_delta,
    train_reward_model,
)
from reward_models.training.delta import delta_settings
from reward_models.training.trainer import split_by_prompt


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return save_backbone(tmp_path_factory.mktemp("backbone") / "tiny-bert")


@pytest.fixture(scope="module")
def trained(backbone, tmp_path_factory):
    output = tmp_path_factory.mktemp("rm") / "rm"
    config = RewardTrainerConfig(
        model=backbone,
        output_dir=str(output),
        num_train_epochs=3,
        batch_size=16,
        learning_rate=1e-3,
        device="cpu",
        seed=0,
    )
    result = train_reward_model(config, synthetic_pairs(400, seed=0), synthetic_pairs(100, seed=1))
    return result


def test_tiny_reward_model_learns_a_separable_rule(trained):
    assert trained.best_metrics["accuracy"] >= 0.9
    held_out = evaluate_preferences(HFRewardModel(trained.output_dir), synthetic_pairs(200, seed=2))
    assert held_out["accuracy"] >= 0.9
    assert held_out["loss"] < 0.5  # well below log 2 = 0.693, the loss of a constant reward
    assert [h["step"] for h in trained.history] == [25, 50, 75]  # one evaluation per epoch
    assert (trained.output_dir / "runs").is_dir()  # tensorboard event files
    assert any(p.name.startswith("events.out.tfevents") for p in (trained.output_dir / "runs").iterdir())


def test_trained_model_saves_reloads_and_scores_identically_and_normalised(trained, backbone):
    saved = json.loads((trained.output_dir / "train_results.json").read_text())
    assert saved["best_metrics"]["accuracy"] == trained.best_metrics["accuracy"]
    first, second = HFRewardModel(trained.output_dir), HFRewardModel(trained.output_dir)
    pairs = synthetic_pairs(50, seed=3)
    prompts, completions = [p.prompt for p in pairs], [p.chosen for p in pairs]
    np.testing.assert_allclose(first(prompts, completions), second(prompts, completions), rtol=1e-5, atol=1e-5)
    assert not first.model.training
    # normalisation fitted on the training completions: those score mean 0, std 1
    train = synthetic_pairs(400, seed=0)
    reference = sorted({(p.prompt, c) for p in train for c in (p.chosen, p.rejected)})
    scores = first([p for p, _ in reference], [c for _, c in reference])
    assert scores.mean() == pytest.approx(0.0, abs=0.05) and scores.std() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_best_checkpoint_and_early_stopping(backbone, tmp_path, metric):
    # held-out labels are the reverse of the training rule, so held-out metrics get worse as training goes on
    eval_pairs = [PreferencePair(p.prompt, p.rejected, p.chosen) for p in synthetic_pairs(60, seed=1)]
    config = RewardTrainerConfig(
        model=backbone,
        output_dir=str(tmp_path / "rm"),
        num_train_epochs=20,
        batch_size=50,
        learning_rate=1e-3,
        eval_steps=2,
        early_stopping_patience=2,
        device="cpu",
        metric_for_best_model=metric,
        normalize=False,
    )
    result = train_reward_model(config, synthetic_pairs(200, seed=0), eval_pairs)
    assert result.steps == 6 and [h["step"] for h in result.history] == [2, 4, 6]  # stopped after 2 worse evals
    assert result.best_metrics == result.history[0]
    assert result.history[-1]["loss"] > result.history[0]["loss"]
    # the saved model is the best checkpoint (step 2), not the last one
    reloaded = evaluate_preferences(HFRewardModel(result.output_dir).raw_score, eval_pairs)
    assert reloaded["loss"] == pytest.approx(result.history[0]["loss"], rel=1e-4)


@pytest.fixture(scope="module")
def lora_trained(backbone, tmp_path_factory):
    config = RewardTrainerConfig(
        model=backbone,
        output_dir=str(tmp_path_factory.mktemp("lora") / "rm"),
        num_train_epochs=3,
        batch_size=16,
        learning_rate=3e-3,
        lora_rank=4,
        lora_dropout=0.1,
        device="cpu",
    )
    return train_reward_model(config, synthetic_pairs(400, seed=0), synthetic_pairs(100, seed=1))


def _weight_changes(output_dir, backbone) -> dict[str, torch.Tensor]:
    """Saved weights minus the backbone's, for every tensor the training changed."""
    base = AutoModelForSequenceClassification.from_pretrained(backbone).state_dict()
    tuned = HFRewardModel(output_dir).model.state_dict()
    return {name: tuned[name] - base[name] for name in base if not torch.equal(tuned[name], base[name])}


def test_lora_training_changes_only_adapters_and_head(lora_trained, backbone):
    assert lora_trained.best_metrics["accuracy"] >= 0.75
    changes = _weight_changes(lora_trained.output_dir, backbone)
    head = {"classifier.weight", "classifier.bias"}
    assert head <= set(changes)  # the head is trained in full
    adapted = sorted(set(changes) - head)
    # every Linear layer but the head got a rank-4 adapter (2 layers x query, key, value, attention output,
    # intermediate, output, plus the pooler), merged on save; embeddings, biases and LayerNorms stay frozen
    assert len(adapted) == 2 * 6 + 1 and all(name.endswith(".weight") and "embeddings" not in name for name in adapted)
    for name in adapted:
        singular = torch.linalg.svdvals(changes[name])
        assert singular[3] > 0 and singular[4:].max() < 1e-4 * singular[0], name


def test_lora_model_saves_and_reloads_with_identical_scores(lora_trained):
    # the best held-out loss was measured on the peft model (adapters unmerged, dropout off in eval); the merged,
    # saved and reloaded model scores the same pairs identically
    reloaded = evaluate_preferences(HFRewardModel(lora_trained.output_dir).raw_score, synthetic_pairs(100, seed=1))
    assert reloaded["loss"] == pytest.approx(lora_trained.best_metrics["loss"], rel=1e-5)
    assert reloaded["accuracy"] == lora_trained.best_metrics["accuracy"]
    assert reloaded["margin"] == pytest.approx(lora_trained.best_metrics["margin"], rel=1e-5)


def test_lora_target_modules_limit_the_adapted_layers(backbone, tmp_path):
    config = RewardTrainerConfig(
        model=backbone,
        output_dir=str(tmp_path / "rm"),
        num_train_epochs=1,
        batch_size=50,
        learning_rate=3e-3,
        lora_rank=2,
        lora_target_modules=["query", "value"],
        device="cpu",
        normalize=False,
    )
    train_reward_model(config, synthetic_pairs(100, seed=0), synthetic_pairs(20, seed=1))
    changed = set(_weight_changes(config.output_dir, backbone))
    assert changed == {"classifier.weight", "classifier.bias"} | {
        f"bert.encoder.layer.{i}.attention.self.{m}.weight" for i in range(2) for m in ("query", "value")
    }


def test_lora_settings_are_validated(backbone, tmp_path):
    with pytest.raises(ValueError, match="lora_dropout must be in"):
        RewardTrainerConfig(lora_rank=4, lora_dropout=1.0)
    with pytest.raises(ValueError, match="only apply to LoRA"):
        RewardTrainerConfig(lora_dropout=0.1)  # lora_rank=0: full fine-tuning
    with pytest.raises(ValueError, match="only apply to LoRA"):
        RewardTrainerConfig(lora_target_modules=["query"])
    with pytest.raises(ValueError, match="either"):
        RewardTrainerConfig(lora_rank=4, lora_target_modules=["all-linear", "query"])
    with pytest.raises(ValueError, match="non-empty"):
        RewardTrainerConfig(lora_rank=4, lora_target_modules=[])
    config = RewardTrainerConfig(
        model=backbone, output_dir=str(tmp_path / "rm"), lora_rank=4, lora_target_modules=["qkv_proj"], device="cpu"
    )
    with pytest.raises(ValueError, match="qkv_proj"):
        train_reward_model(config, synthetic_pairs(20, seed=0), synthetic_pairs(10, seed=1))
    assert not (tmp_path / "rm").exists()  # a failed run writes nothing


def test_lora_model_packs_into_an_exact_small_delta(lora_trained, backbone, tmp_path):
    trained = HFRewardModel(lora_trained.output_dir)
    stats = save_delta(trained.model, backbone, tmp_path / "delta.safetensors", rank=4, settings=trained.settings())
    assert stats["max_relative_error"] < 5e-3  # LoRA deltas have rank 4: the factorisation is exact up to fp16
    assert stats["bytes"] < 0.5 * sum(p.numel() * 4 for p in trained.model.parameters())
    rebuilt = HFRewardModel(
        load_delta_model(backbone, tmp_path / "delta.safetensors"),
        trained.tokenizer,
        **delta_settings(tmp_path / "delta.safetensors"),
    )
    pairs = synthetic_pairs(40, seed=4)
    prompts, completions = [p.prompt for p in pairs], [p.rejected for p in pairs]
    np.testing.assert_allclose(rebuilt(prompts, completions), trained(prompts, completions), atol=2e-2)


def test_split_by_prompt_holds_out_whole_prompts():
    pairs = synthetic_pairs(300, seed=0)
    train, held_out = split_by_prompt(pairs, 0.25, seed=0)
    assert len(train) + len(held_out) == 300
    assert not {p.prompt for p in train} & {p.prompt for p in held_out}
    assert len({p.prompt for p in held_out}) == round(0.25 * len(PROMPTS))
    with pytest.raises(ValueError, match="eval_fraction"):
        RewardTrainerConfig(eval_fraction=1.0)


@pytest.mark.parametrize("which", ["train_file", "eval_file"])
def test_an_empty_preference_file_says_so(tmp_path, which):
    """Defect 10: an empty file gave 'eval_fraction=0.1 leaves no training prompts (0 distinct prompts)'."""
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "full.jsonl").write_text("".join(p.to_json() + "\n" for p in synthetic_pairs(8, seed=0)))
    files = {"train_file": str(tmp_path / "full.jsonl"), "eval_file": str(tmp_path / "full.jsonl")}
    files[which] = str(tmp_path / "empty.jsonl")
    config = RewardTrainerConfig(**files, output_dir=str(tmp_path / "rm"))
    with pytest.raises(ValueError, match=rf"{which} .*empty\.jsonl holds no preference pairs"):
        train_reward_model(config)


def test_env_uses_a_trained_reward_model_end_to_end(trained):
    from conftest import make_tiny_tokenizer

    from text_gym import TextGenEnv

    policy_tokenizer = make_tiny_tokenizer()  # a different tokenizer from the reward model's own
    env = TextGenEnv(
        tokenizer=policy_tokenizer,
        reward_model=f"hf:{trained.output_dir}",
        prompts=["the movie was", "the food is"],
        max_new_tokens=3,
    )
    reference = HFRewardModel(trained.output_dir)
    returns = {}
    for words in (["good", "movie", "so"], ["bad", "movie", "so"]):
        env.reset(seed=0, options={"prompt_index": 0})
        for word in words:
            _, reward, terminated, _, info = env.step(policy_tokenizer.convert_tokens_to_ids(word))
        assert terminated and info["completion"] == " ".join(words)
        assert reward == pytest.approx(reference(["the movie was"], [info["completion"]])[0], abs=1e-4)
        returns[words[0]] = reward
    assert returns["good"] > returns["bad"]


def test_cli_train_and_eval(backbone, tmp_path, capsys):
    from scripts.cli import main

    append_preferences(tmp_path / "train.jsonl", synthetic_pairs(200, seed=0))
    append_preferences(tmp_path / "test.jsonl", synthetic_pairs(60, seed=1))
    assert (
        main(
            [
                "reward",
                "train",
                "--model",
                backbone,
                "--train-file",
                str(tmp_path / "train.jsonl"),
                "--eval-file",
                str(tmp_path / "test.jsonl"),
                "--output-dir",
                str(tmp_path / "rm"),
                "--num-train-epochs",
                "2",
                "--batch-size",
                "20",
                "--learning-rate",
                "1e-3",
                "--device",
                "cpu",
                "--center-rewards-coefficient",
                "0.01",
            ]
        )
        == 0
    )
    assert (
        json.loads((tmp_path / "rm" / "train_results.json").read_text())["config"]["center_rewards_coefficient"] == 0.01
    )
    capsys.readouterr()
    assert (
        main(
            [
                "reward",
                "eval",
                "--data",
                str(tmp_path / "test.jsonl"),
                "--reward-model",
                f"hf:{tmp_path / 'rm'}",
                "--gold",
                "keyword:good,great,love,happy,nice",
                "--min-gold-gap",
                "1",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_pairs"] == 60 and metrics["gold_accuracy"] == 1.0
    assert metrics["num_clear_pairs"] == 60 and metrics["clear_accuracy"] == metrics["accuracy"]
    assert metrics["accuracy"] >= 0.8
    assert (
        main(
            [
                "reward",
                "pack",
                "--model",
                str(tmp_path / "rm"),
                "--base",
                backbone,
                "--rank",
                "4",
                "--output",
                str(tmp_path / "delta.safetensors"),
            ]
        )
        == 0
    )
    rebuilt = HFRewardModel(
        load_delta_model(backbone, tmp_path / "delta.safetensors"),
        HFRewardModel(tmp_path / "rm").tokenizer,
        **delta_settings(tmp_path / "delta.safetensors"),
    )
    assert rebuilt.settings() == HFRewardModel(tmp_path / "rm").settings()
