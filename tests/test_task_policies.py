"""Task SFT policies (agents.sft.task_policies): built once per recipe and cached, rebuilt for a changed recipe,
built once when two builders race, named by the ``sft:<env id>`` spec wherever a policy is loaded, and refused for
an env id without a recipe. A tiny Llama with the packaged SmolLM2 tokenizer (tokenizer only) on arithmetic
demonstrations."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
import torch

import agents.sft.task_policies as task_policies
from agents import PPO, LMPolicy, TaskSFTRecipe, task_sft_policy
from agents.sft import task_sft_folder
from reward_models.common import load_tokenizer
from scripts.cli import main

TASK = "TextGenArithmetic-v0"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny Llama folder with the SmolLM2 tokenizer (its chat template), the recipes' base policy."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer("smollm2")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("base") / "tiny"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def cache(base, tmp_path_factory):
    """The cache in a temporary folder, a 4-demonstration, 1-epoch recipe in the table, and the SFT runs' output
    folders (a spy on ``train_sft``), for the whole module: the tests share one build."""
    import agents.sft.trainer as trainer  # _build imports train_sft from here when it runs

    root = tmp_path_factory.mktemp("cache")
    recipe = TaskSFTRecipe(demos=4, imperfect=0.25, seed=1, policy=base, sft={"num_train_epochs": 1, "lora_r": 0})
    runs = []
    original = trainer.train_sft

    def spy(*args, **kwargs):
        runs.append(args[0].output_dir)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXT_GYM_CACHE", str(root))
        patch.setitem(task_policies.TASK_SFT_RECIPES, TASK, recipe)
        patch.setattr(trainer, "train_sft", spy)
        yield recipe, runs, root


def test_the_cache_builds_once_and_holds_the_recipe_demos_and_policy(cache):
    recipe, runs, root = cache
    built = len(runs)
    first = task_sft_policy(TASK)
    assert first == task_sft_folder(TASK) / "final" and first.is_relative_to(root / "sft")
    assert len(runs) == built + (built == 0)  # built now unless an earlier test of the module built it
    built = len(runs)
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert task_sft_policy(TASK) == first and len(runs) == built  # reused, not retrained
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime
    folder = first.parent
    saved = json.loads((folder / "recipe.json").read_text())
    assert saved["env_id"] == TASK and saved["recipe"] == dataclasses.asdict(recipe)
    demos = [json.loads(line) for line in (folder / "demos.jsonl").read_text().splitlines()]
    assert len(demos) == 4 and sum(d["imperfection"] is not None for d in demos) == 1
    assert not (folder / "checkpoints").exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_changed_recipe_builds_a_new_folder(cache, monkeypatch):
    recipe, runs, _ = cache
    first = task_sft_policy(TASK)
    built = len(runs)
    changed = dataclasses.replace(recipe, sft={"num_train_epochs": 1, "lora_r": 0, "learning_rate": 1e-4})
    assert changed.key(TASK) != recipe.key(TASK)
    monkeypatch.setitem(task_policies.TASK_SFT_RECIPES, TASK, changed)
    second = task_sft_policy(TASK)
    assert second != first and len(runs) == built + 1 and first.is_dir()
    monkeypatch.setattr(task_policies, "RECIPE_CODE_VERSION", task_policies.RECIPE_CODE_VERSION + 1)
    assert changed.key(TASK) != second.parent.name.rsplit("-", 1)[1]  # a new code version is a new key too


def test_two_concurrent_builders_train_once_and_share_the_folder(cache):
    recipe, runs, _ = cache
    fresh = dataclasses.replace(recipe, seed=2)  # not built yet
    target = task_sft_folder(TASK, fresh)
    stale = target.parent / f".{target.name}.tmp-killed00"  # what a killed build leaves
    (stale / "final").mkdir(parents=True)
    built = len(runs)
    results, errors = [], []

    def build():
        try:
            results.append(task_sft_policy(TASK, fresh))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 2 and results[0] == results[1] == task_sft_folder(TASK, fresh) / "final"
    assert len(runs) == built + 1 and not stale.exists()


def test_the_sft_spec_loads_wherever_a_policy_is_asked_for(cache, capsys):
    folder = task_sft_policy(TASK)
    spec = f"sft:{TASK}"
    policy = LMPolicy.from_pretrained(spec)
    saved = LMPolicy.from_pretrained(str(folder))
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(policy.model(ids).logits, saved.model(ids).logits)
    assert policy.tokenizer is not None
    agent = PPO(spec, None, device="cpu")
    assert torch.equal(agent.policy.model(ids).logits, saved.model(ids).logits)
    assert main(["sft", "build", "--env", TASK]) == 0
    assert capsys.readouterr().out.strip() == str(folder)


def test_an_env_id_without_a_recipe_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEXT_GYM_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=r"no SFT recipe for env id 'TextGenSentiment-v0'.*TextGenSupport-v0"):
        LMPolicy.from_pretrained("sft:TextGenSentiment-v0")
    with pytest.raises(ValueError, match="no SFT recipe"):
        task_sft_policy("TextGen-v0")
    assert main(["sft", "build", "--env", "TextGen-v0"]) == 1
    assert "env must be a task with an SFT recipe" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"sft must not set \['seed'\]"):
        task_sft_policy(TASK, TaskSFTRecipe(demos=1, imperfect=0.0, sft={"seed": 3}))
    assert not any(tmp_path.iterdir())  # nothing built


def test_bench_algos_warm_starts_a_task_from_its_sft_policy(cache, tmp_path):
    """``text-gym bench algos`` with ``warm_start='sft'`` builds the task's policy once (here: the module's tiny
    recipe) and evaluates and trains from it: the shared before-evaluation is the SFT folder's own evaluation."""
    from agents import evaluate_lm
    from agents.common.envs import make_vector_env
    from scripts.bench.algos import BenchAlgosConfig, eval_prompts, run_benchmark
    from text_gym import gold_reward_spec

    recipe, runs, _ = cache
    config = BenchAlgosConfig(
        algos=["reinforce"],
        tasks=[TASK],
        seeds=[0],
        policy=recipe.policy,
        total_timesteps=8,
        n_envs=2,
        eval_rows=2,
        workers=1,
        device="cpu",
        output_dir=str(tmp_path),
        progress_bar=False,
    )
    results = run_benchmark(config)
    folder = task_sft_policy(TASK)
    (before,) = results["before_eval"]["evals"]
    assert before["initial_policy"] == f"sft:{TASK}" and before["eval_rows"] == 2
    policy = LMPolicy.from_pretrained(str(folder))
    kwargs = {"tokenizer": policy.tokenizer, "vocab_size": policy.vocab_size, "prompts": eval_prompts(config, TASK)}
    expected = evaluate_lm(policy, make_vector_env(TASK, 2, policy.vocab_size, "cpu", kwargs), gold_reward_spec(TASK))
    assert (before["proxy"], before["gold"]) == (expected.score_mean, expected.gold_mean)
    (run,) = results["runs"]
    assert run["algo"] == "reinforce" and run["updates"] >= 1
    none = BenchAlgosConfig(**{**config.__dict__, "warm_start": "none", "output_dir": str(tmp_path / "none")})
    built = len(runs)
    (cold,) = run_benchmark(none)["before_eval"]["evals"]
    assert cold["initial_policy"] == recipe.policy and len(runs) == built
