"""Bradley–Terry training on transformers.Trainer with tiny models: learning a separable rule, seeded runs
reproduce, best checkpoint and early stopping, peft LoRA (only adapters and head train, the adapter folder
reloads with the trained scores, target modules, bad settings, the deprecated lora_rank name), save/reload, the
env end to end with a trained reward model, and the ``text-gym reward`` CLI."""

import json
import warnings

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
    make_reward_model,
    train_reward_model,
)
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
        lora_r=4,
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


def test_lora_run_saves_a_peft_adapter_folder_that_scores_like_the_trained_model(lora_trained, backbone):
    from peft import PeftConfig

    folder = lora_trained.output_dir
    assert {"adapter_config.json", "adapter_model.safetensors", "config.json", "reward_model.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert not (folder / "model.safetensors").exists()  # only the adapters and the head, not the backbone
    adapter = PeftConfig.from_pretrained(str(folder))
    assert adapter.base_model_name_or_path == backbone and adapter.r == 4
    assert "classifier" in adapter.modules_to_save  # the head, trained in full
    # the in-memory trained peft model (adapters unmerged) and the adapter folder loaded by HFRewardModel (peft,
    # merged) give the same scores, and so does the reward-model spec "hf:<folder>"
    pairs = synthetic_pairs(60, seed=4)
    prompts, completions = [p.prompt for p in pairs], [p.chosen for p in pairs[:30]] + [p.rejected for p in pairs[30:]]
    trained = lora_trained.reward_model(prompts, completions)
    np.testing.assert_allclose(HFRewardModel(folder)(prompts, completions), trained, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(make_reward_model(f"hf:{folder}")(prompts, completions), trained, rtol=1e-5, atol=1e-5)
    # the best held-out metrics were measured during training on the same model
    reloaded = evaluate_preferences(HFRewardModel(folder).raw_score, synthetic_pairs(100, seed=1))
    assert reloaded["loss"] == pytest.approx(lora_trained.best_metrics["loss"], rel=1e-5)
    assert reloaded["accuracy"] == lora_trained.best_metrics["accuracy"]
    assert reloaded["margin"] == pytest.approx(lora_trained.best_metrics["margin"], rel=1e-5)


def test_adapter_folder_without_a_tokenizer_uses_its_base_tokenizer(lora_trained, tmp_path):
    import shutil

    folder = tmp_path / "adapter"
    folder.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "config.json", "reward_model.json"):
        shutil.copy(lora_trained.output_dir / name, folder / name)
    pairs = synthetic_pairs(20, seed=5)
    prompts, completions = [p.prompt for p in pairs], [p.chosen for p in pairs]
    np.testing.assert_allclose(
        HFRewardModel(folder)(prompts, completions), lora_trained.reward_model(prompts, completions), atol=1e-5
    )


def test_seeded_runs_reproduce_their_weights(backbone, tmp_path):
    def weights(seed: int, name: str) -> dict[str, torch.Tensor]:
        config = RewardTrainerConfig(
            model=backbone,
            output_dir=str(tmp_path / name),
            num_train_epochs=2,
            batch_size=16,
            learning_rate=1e-3,
            device="cpu",
            seed=seed,
            normalize=False,
        )
        train_reward_model(config, synthetic_pairs(64, seed=0), synthetic_pairs(16, seed=1))
        return HFRewardModel(tmp_path / name).model.state_dict()

    first, again, other = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["classifier.weight"], other["classifier.weight"])  # the seed does matter


def test_lora_rank_is_a_deprecated_alias_of_lora_r():
    from scripts.args import config_from_args
    from scripts.cli import build_parser, main

    with pytest.warns(DeprecationWarning, match="lora_rank"):
        config = RewardTrainerConfig(lora_rank=4)
    assert config.lora_r == 4 and config.lora_rank is None
    disagree = pytest.raises(ValueError, match="is a deprecated alias of lora_r, which is 2")
    with disagree, pytest.warns(DeprecationWarning):
        RewardTrainerConfig(lora_r=2, lora_rank=4)
    parse = build_parser().parse_args
    with pytest.warns(DeprecationWarning, match="--lora-r"):
        old = config_from_args(RewardTrainerConfig, parse(["reward", "train", "--lora-rank", "4"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = config_from_args(RewardTrainerConfig, parse(["reward", "train", "--lora-r", "4"]))
    assert old == new and new.lora_r == 4
    with pytest.warns(DeprecationWarning, match="--lora-rank"):  # the command shows it (a bad file then stops it)
        assert main(["reward", "train", "--lora-rank", "4", "--train-file", "missing.jsonl"]) == 1


def test_lora_target_modules_limit_the_adapted_layers(backbone, tmp_path):
    config = RewardTrainerConfig(
        model=backbone,
        output_dir=str(tmp_path / "rm"),
        num_train_epochs=1,
        batch_size=50,
        learning_rate=3e-3,
        lora_r=2,
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
        RewardTrainerConfig(lora_r=4, lora_dropout=1.0)
    with pytest.raises(ValueError, match="only apply to LoRA"):
        RewardTrainerConfig(lora_dropout=0.1)  # lora_r=0: full fine-tuning
    with pytest.raises(ValueError, match="only apply to LoRA"):
        RewardTrainerConfig(lora_target_modules=["query"])
    with pytest.raises(ValueError, match="either"):
        RewardTrainerConfig(lora_r=4, lora_target_modules=["all-linear", "query"])
    with pytest.raises(ValueError, match="non-empty"):
        RewardTrainerConfig(lora_r=4, lora_target_modules=[])
    config = RewardTrainerConfig(
        model=backbone, output_dir=str(tmp_path / "rm"), lora_r=4, lora_target_modules=["qkv_proj"], device="cpu"
    )
    with pytest.raises(ValueError, match="qkv_proj"):
        train_reward_model(config, synthetic_pairs(20, seed=0), synthetic_pairs(10, seed=1))
    assert not (tmp_path / "rm").exists()  # a failed run writes nothing


def test_training_without_held_out_pairs_saves_the_last_model(backbone, tmp_path):
    config = RewardTrainerConfig(
        model=backbone,
        output_dir=str(tmp_path / "rm"),
        eval_fraction=0.0,
        num_train_epochs=2,
        batch_size=25,
        learning_rate=1e-3,
        device="cpu",
    )
    result = train_reward_model(config, synthetic_pairs(100, seed=0))
    assert result.steps == 8 and result.history == [] and result.best_metrics == {}
    pairs = synthetic_pairs(20, seed=1)
    prompts, completions = [p.prompt for p in pairs], [p.chosen for p in pairs]
    np.testing.assert_allclose(
        HFRewardModel(result.output_dir)(prompts, completions), result.reward_model(prompts, completions), atol=1e-5
    )
    with pytest.raises(ValueError, match="early_stopping_patience=2 needs held-out pairs"):
        train_reward_model(RewardTrainerConfig(**{**config.__dict__, "early_stopping_patience": 2}), pairs)


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
