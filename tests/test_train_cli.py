"""``text-gym train <algo>`` end to end on a tiny local model, and its refusals of bad or foreign flags."""

import json
import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny_lm import PROMPTS, tiny_model, tiny_tokenizer

from scripts.cli import main


def _scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_train_cli_evaluates_saves_checkpoints_logs_and_resumes(tmp_path, capsys):
    tiny_model().save_pretrained(tmp_path / "policy")
    tiny_tokenizer().save_pretrained(tmp_path / "policy")
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS))
    out = tmp_path / "run"
    argv = [
        "train",
        "rloo",
        "--policy",
        str(tmp_path / "policy"),
        "--reward-model",
        "vader",
        "--prompts",
        str(tmp_path / "prompts.txt"),
        "--eval-prompts",
        str(tmp_path / "prompts.txt"),
        "--max-new-tokens",
        "4",
        "--max-prompt-tokens",
        "5",
        "--n-envs",
        "4",
        "--group-size",
        "2",
        "--output-dir",
        str(out),
        "--no-progress-bar",
        "--learning-rate",
        "1e-3",
    ]
    with pytest.warns(UserWarning, match="no checkpoint in .* yet; starting from scratch"):
        assert main([*argv, "--total-timesteps", "32", "--resume"]) == 0  # nothing to resume yet: a fresh start
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "rloo" and summary["saved_to"] == str(out / "final")
    # 4 episodes x at most 4 tokens per update: at least 2 updates to reach 32 tokens, and no more than needed.
    assert 32 <= summary["timesteps"] <= 32 + 16 and summary["updates"] >= 2
    for key in ("proxy_before", "proxy_after", "gold_before", "gold_after"):
        assert math.isfinite(summary[key])
    printed = capsys.readouterr().out
    assert f"before: proxy {summary['proxy_before']:+.4f}, gold {summary['gold_before']:+.4f}" in printed
    assert f"after: proxy {summary['proxy_after']:+.4f}, gold {summary['gold_after']:+.4f}" in printed

    saved = json.loads((out / "final" / "text_gym_agent.json").read_text())
    assert saved["config"]["baseline"] == "rloo" and saved["config"]["gold_reward_model"] == "vader"
    assert (out / "final" / "config.json").is_file()
    updates = summary["updates"]
    # checkpoint every update, the 2 newest kept, each with its training state
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == [f"checkpoint-{n:06d}" for n in (updates - 1, updates)]
    assert (out / "checkpoints" / checkpoints[-1] / "training_state.pt").is_file()
    (run_dir,) = list((out / "tensorboard").iterdir())
    assert [value for _, value in _scalars(run_dir, "train/n_updates")] == list(range(1, updates + 1))
    assert len(_scalars(run_dir, "rollout/gold_score_mean")) == updates

    assert main([*argv, "--total-timesteps", "64", "--resume"]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert 64 <= resumed["timesteps"] <= 64 + 16 and resumed["updates"] > updates
    # the same tensorboard run continues: update numbers and token steps go on from the checkpoint, not from 0
    assert list((out / "tensorboard").iterdir()) == [run_dir]
    logged = _scalars(run_dir, "train/n_updates")
    assert [value for _, value in logged] == list(range(1, resumed["updates"] + 1))
    steps = [step for step, _ in logged]
    assert steps == sorted(steps) and len(set(steps)) == len(steps) and steps[updates - 1] == summary["timesteps"]
    assert steps[-1] == resumed["timesteps"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir())[-1] == f"checkpoint-{resumed['updates']:06d}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rloo", "--clip-range", "0.1"], "unrecognized arguments: --clip-range 0.1; --clip-range (a flag of ppo"),
        (["reinforce", "--group-size", "3"], "--group-size (a flag of rloo, grpo)"),
        (["ppo", "--baseline", "rloo"], "unrecognized arguments: --baseline rloo"),
        (["rloo", "--baseline", "grpo"], "unrecognized arguments: --baseline grpo"),
        (["ppo", "--n-envs", "x"], "argument --n-envs: invalid int value: 'x'"),
        (["ppo", "--lr-schedule", "cosine"], "invalid choice: 'cosine'"),
    ],
)
def test_train_cli_refuses_foreign_and_malformed_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("text-gym train")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--total-timesteps", "0"], "text-gym train ppo: error: total_timesteps must be an integer >= 1, got 0\n"),
        (["--n-envs", "0"], "text-gym train ppo: error: n_envs must be an integer >= 1, got 0\n"),
        (
            ["--policy", "/no/such/dir"],
            "text-gym train ppo: error: model folder not found: /no/such/dir (a model is a hub id, an existing local "
            "folder, 'smollm2' or 'minilm')\n",
        ),
    ],
)
def test_train_cli_bad_values_end_in_one_line(argv, message, tmp_path, capsys):
    argv = [*argv, "--output-dir", str(tmp_path), "--eval-prompts", "none", "--gold-reward-model", "none"]
    assert main(["train", "ppo", *argv]) == 1
    assert capsys.readouterr().err == message
    assert not list(tmp_path.iterdir())


def test_train_cli_help_shows_true_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "grpo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "logged as rollout/gold_score_mean; 'env': the env's gold metric" in text and "(default: env)" in text
    assert "--max-new-tokens MAX_NEW_TOKENS tokens per episode" in text
    assert "none: the env's own (TextGen-v0: 32, suite tasks: theirs, TextGenSupport-v0: 448) (default: None)" in text
    assert "--group-size GROUP_SIZE samples per prompt" in text
    assert "--num-iterations NUM_ITERATIONS passes over each rollout" in text
    for foreign in ("--baseline ", "--baseline-decay", "--n-epochs", "--checkpoint-dir", "--tensorboard-log"):
        assert foreign not in text


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--dtype", "bfloat16"], ("bfloat16", "float32")),
        (["--torch-dtype", "bfloat16", "--lora-r", "4"], ("float32", "bfloat16")),
        (["--compute-dtype", "bfloat16", "--weight-dtype", "float16", "--lora-r", "4"], ("bfloat16", "float16")),
    ],
)
def test_train_cli_dtype_flags_and_their_deprecated_aliases(flags, expected, tmp_path):
    import warnings

    from scripts.args import config_from_args
    from scripts.cli import build_parser
    from scripts.train import TrainArgs, _config

    args = build_parser().parse_args(["train", "grpo", "--output-dir", str(tmp_path), *flags])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")  # as Python hides DeprecationWarning by default: the CLI still shows it
        config = _config(args, config_from_args(TrainArgs, args))
    assert (config.compute_dtype, config.weight_dtype) == expected
    deprecated = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    aliases = [flag for flag in flags if flag in ("--dtype", "--torch-dtype")]
    assert len(deprecated) == len(aliases)
    assert all("is deprecated; use" in message for message in deprecated)


def test_train_cli_grpo_builds_a_grpo_agent_config():
    from agents import GRPO, GRPOConfig
    from scripts.args import config_from_args
    from scripts.cli import build_parser
    from scripts.train import TrainArgs, _config

    args = build_parser().parse_args(["train", "grpo", "--group-size", "2", "--num-iterations", "3"])
    config = _config(args, config_from_args(TrainArgs, args))
    assert type(config) is GRPOConfig and GRPO.config_class is GRPOConfig
    assert (config.group_size, config.num_iterations) == (2, 3)


def test_train_cli_per_env_defaults_apply_to_the_flags_not_given(capsys):
    from scripts.cli import build_parser
    from scripts.train import ENV_DEFAULTS

    support = ENV_DEFAULTS["TextGenSupport-v0"]
    names = ["policy", "total_timesteps", "n_envs", "minibatch_size", "gradient_accumulation_steps", "n_epochs"]
    parser = build_parser()
    generic = parser.parse_args(["train", "ppo"])
    assert [getattr(generic, name) for name in names] == ["smollm2", 8000, 16, 8, 1, 2]
    assert generic.eval_batch_size is None
    args = parser.parse_args(["train", "ppo", "--n-envs", "4", "--env", "TextGenSupport-v0"])
    assert args.n_envs == 4  # given: the flag wins
    assert {name: getattr(args, name) for name in support if name != "n_envs"} == {
        name: value for name, value in support.items() if name != "n_envs"
    }
    grpo = parser.parse_args(["train", "grpo", "--env", "TextGenSupport-v0"])
    assert grpo.n_envs == support["n_envs"] and not hasattr(grpo, "n_epochs")  # only the algorithm's own flags
    with pytest.raises(SystemExit):
        main(["train", "ppo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: 16; TextGenSupport-v0: {support['n_envs']})" in text
    assert f"none: --n-envs (default: None; TextGenSupport-v0: {support['eval_batch_size']})" in text
