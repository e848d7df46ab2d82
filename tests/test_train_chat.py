"""``text-gym train`` on the chat envs: the env's own settings unless flags say otherwise, the held-out evaluation
built like the training env (its held-out split, the support task's gold metric over conversations), and the chat
flags refused on single-turn envs."""

import json

import pytest
import torch
from tiny_chat import tiny_chat_tokenizer

from scripts.cli import main
from text_gym import support_rows, support_success

WORDS = ["your", "email", "please", "reset", "cancel", "thanks", "the", "is", "what", "?", "."]
SCENARIOS = ["password_reset", "cancel_subscription"]


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("chat_policy")
    tokenizer = tiny_chat_tokenizer(WORDS)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=2, n_head=2, bos_token_id=2, eos_token_id=2
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def _train(argv, tmp_path):
    out = tmp_path / "run"
    common = ["--n-envs", "4", "--total-timesteps", "16", "--output-dir", str(out), "--no-progress-bar"]
    assert main(["train", *argv, *common]) == 0
    return json.loads((out / "summary.json").read_text())


def test_train_on_a_chat_env_with_a_scripted_user_scores_the_held_out_conversations(policy_dir, tmp_path, capsys):
    train_rows = _write_rows(tmp_path / "train.jsonl", support_rows("train", scenarios=SCENARIOS))
    test_rows = support_rows("test", scenarios=SCENARIOS)
    argv = ["ppo", "--env", "TextGenChat-v0", "--policy", str(policy_dir), "--user", "scripted"]
    argv += ["--prompts", train_rows, "--eval-prompts", _write_rows(tmp_path / "test.jsonl", test_rows)]
    argv += ["--reward-model", "support-turn", "--gold-reward-model", "support-success"]
    argv += ["--max-turns", "2", "--max-turn-tokens", "3", "--max-new-tokens", "64", "--max-prompt-tokens", "48"]
    summary = _train(argv, tmp_path)
    printed = capsys.readouterr().out
    assert "TextGenChat-v0" in printed and "2 turns x 3 tokens" in printed and "gold 'support-success'" in printed
    for when in ("before", "after"):
        assert 0.0 <= summary[f"gold_{when}"] <= 1.0
        line = f"{when}: proxy {summary[f'proxy_{when}']:+.4f}, gold {summary[f'gold_{when}']:+.4f} over 6 held-out"
        assert line in printed


def test_train_on_the_support_desk_uses_its_defaults_held_out_rows_and_gold(policy_dir, tmp_path, capsys, monkeypatch):
    import agents

    evaluate, evaluations = agents.evaluate, []

    def recording_evaluate(*args, **kwargs):
        result = evaluate(*args, **kwargs)
        evaluations.append((args[1], result))
        return result

    monkeypatch.setattr("agents.evaluate", recording_evaluate)
    # no --prompts / --max-new-tokens / --max-prompt-tokens / --user: the env's own (support rows, scripted customer)
    summary = _train(
        ["grpo", "--env", "TextGenSupport-v0", "--policy", str(policy_dir), "--max-turn-tokens", "3"], tmp_path
    )
    printed = capsys.readouterr().out
    assert "6 turns x 3 tokens" in printed and "gold 'support-success'" in printed
    assert len(evaluations) == 2
    for env, result in evaluations:
        rows = support_rows("test")
        assert env.task.prompts == [row["prompt"] for row in rows] and env.max_turns == 6
        assert env.task.system_prompt is not None and env.task.max_prompt_tokens == 96
        assert env.num_envs == 30  # the support desk's eval_batch_size: every held-out row in one batch
        fields = {name: [row[name] for row in rows] for name in ("facts", "required", "solution", "patience")}
        assert result.gold_scores.tolist() == support_success(result.conversations, **fields).tolist()
    assert (
        summary["gold_before"] == evaluations[0][1].gold_mean and summary["gold_after"] == evaluations[1][1].gold_mean
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--user", "scripted"], "--user applies to the chat envs (TextGenChat-v0, TextGenSupport-v0) only, not to "),
        (["--max-turns", "2"], "--max-turns applies to the chat envs"),
        (["--env", "TextGenDialogue-v0", "--max-turn-tokens", "8"], "not to TextGenDialogue-v0"),
        (["--env", "NoSuch-v0"], "env 'NoSuch-v0' is not a registered env id; the TextGen envs: TextGen-v0, "),
        (["--env", "TextGenSupport-v0", "--max-turns", "0"], "max_turns must be an integer >= 1, got 0"),
    ],
)
def test_train_refuses_chat_flags_on_single_turn_envs_in_one_line(argv, message, tmp_path, capsys):
    assert main(["train", "ppo", *argv, "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("text-gym train ppo: error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())
