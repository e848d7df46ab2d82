"""Supervised fine-tuning: the loss mask is token-exact with what the chat env feeds the policy (the labelled tokens
are exactly the agent's actions), a tiny policy's loss falls, full and LoRA outputs reload as policies (same
logits; PPO and the labelling page's loader take them), a SIGKILLed run resumes from its last checkpoint to the
uninterrupted run's weights, and bad inputs give errors naming them. Tiny word-level chat tokenizer and tiny Llama;
the packaged SmolLM2 tokenizer (tokenizer only) for the ChatML case."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_tokenizer
from tiny_chat import fixed_user, tiny_chat_tokenizer
from tiny_lm import tiny_llama

from agents import PPO, SFTConfig, assistant_labels, load_conversations, train_sft
from agents.common.policy import LMPolicy
from agents.sft import IGNORE_INDEX
from reward_models.common import load_tokenizer
from reward_models.common.quiet import hf_progress_bars_disabled
from reward_models.preferences.labelling import load_policy
from scripts.cli import main
from text_gym import TextGenChatEnv, TextGenChatVectorEnv

TOKENIZER = tiny_chat_tokenizer()
HANG_GUARD_S = 300


def conversation(system: str | None, *texts: str) -> list[dict[str, str]]:
    """``texts`` alternate user, assistant, user, ... (the first is the user's)."""
    head = [{"role": "system", "content": system}] if system else []
    roles = ["user", "assistant"] * len(texts)
    return head + [{"role": role, "content": text} for role, text in zip(roles, texts, strict=False)]


CONVERSATIONS = [
    conversation("you love food", "the movie was", "good good", "so", "great"),
    conversation(None, "the food is", "fine and good"),
    conversation(None, "it was a", "good day", "not so", "great day"),
    conversation("you love food", "the day is", "good"),
] * 2


def play(tokenizer, system, user_texts, turns):
    """Play ``turns`` (each its content's tokens, then the end-of-turn token) in a ``TextGenChatEnv`` whose user
    says ``user_texts``; the last observation and info."""
    replies = iter(user_texts[1:])
    env = TextGenChatEnv(
        tokenizer=tokenizer,
        reward_model=lambda prompts, completions: [0.0] * len(completions),
        prompts=[user_texts[0]],
        user=lambda conversations, fields: [next(replies) for _ in conversations],
        max_turns=len(turns),
        max_new_tokens=160,
        max_prompt_tokens=64,
        system_prompt=system,
    )
    end = env.end_of_turn_id
    actions = [a for turn in turns for a in [*tokenizer(turn, add_special_tokens=False)["input_ids"], end]]
    obs, info = env.reset(seed=0)
    for action in actions:
        obs, _, terminated, _, info = env.step(action)
    assert terminated and info["stop_reason"] == "max_turns"
    return obs, info, actions


@pytest.mark.parametrize(
    ("tokenizer", "system", "user_texts", "turns"),
    [
        (TOKENIZER, "you love food", ["the movie was", "so good", "it is"], ["good good", "so", "great ."]),
        (TOKENIZER, None, ["the food is"], ["fine"]),
        (
            "smollm2",
            None,  # SmolLM2's template adds its default system message
            ["Hi, my parcel has not arrived.", "It was order 1234, placed last week.", "No, that's all. Thanks!"],
            ["Sorry to hear that! What is your order number?", "Thanks. It ships tomorrow.", "Bye!"],
        ),
        ("smollm2", "You are a support agent.", ["Hello", "It was\n order  12."], [" Hi!  How can I\nhelp?", ""]),
    ],
)
def test_the_mask_is_token_exact_with_the_chat_env(tokenizer, system, user_texts, turns):
    tokenizer = load_tokenizer(tokenizer)
    obs, info, actions = play(tokenizer, system, user_texts, turns)
    input_ids, labels = assistant_labels(tokenizer, info["conversation"])
    real = obs["attention_mask"] == 1
    assert input_ids == obs["input_ids"][real].tolist()  # the env's whole context, token for token
    assert [int(label != IGNORE_INDEX) for label in labels] == obs["agent_mask"][real].tolist()
    assert [label for label in labels if label != IGNORE_INDEX] == actions  # exactly the agent's actions
    assert all(label in (IGNORE_INDEX, token) for label, token in zip(labels, input_ids, strict=True))


def test_the_mask_labels_the_assistant_turns_and_their_end_of_turn_tokens_only():
    messages = conversation("you love food", "the movie was", "good good", "so", "great")
    input_ids, labels = assistant_labels(TOKENIZER, messages)
    assert TOKENIZER.decode(input_ids) == (
        "<|system|> you love food <|end|> <|user|> the movie was <|end|> <|assistant|> good good <|end|> "
        "<|user|> so <|end|> <|assistant|> great <|end|>"
    )
    labelled = [token for token, label in zip(input_ids, labels, strict=True) if label != IGNORE_INDEX]
    assert TOKENIZER.decode(labelled) == "good good <|end|> great <|end|>"
    start = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    prompt = "<|system|> you love food <|end|> <|user|> the movie was <|end|> <|assistant|>"
    assert TOKENIZER.decode(input_ids[:start]) == prompt


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([{"role": "user", "content": "the movie was"}], "no assistant message"),
        ([*conversation(None, "the", "good"), {"role": "user", "content": "so"}], "ending with assistant"),
        ([{"role": "assistant", "content": "good"}], "starting with user"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
            r"its roles are \['user', 'user', 'assistant'\]",
        ),
        ([{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}], "messages\\[0\\] has role 'tool'"),
        ([{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}], "content of type int"),
        ([{"role": "user"}], "must be an object with 'role' and 'content'"),
        ([], "non-empty list"),
        (conversation(None, "the", "good <|end|> bad"), r"messages\[1\] \(assistant\) contains the end-of-turn token"),
    ],
)
def test_a_conversation_of_another_shape_is_refused_naming_it(messages, match):
    with pytest.raises(ValueError, match=match):
        assistant_labels(TOKENIZER, messages)


def test_a_tokenizer_without_a_chat_template_is_refused():
    with pytest.raises(ValueError, match="has no chat template"):
        assistant_labels(make_tiny_tokenizer(), conversation(None, "the", "good"))


# ------------------------------------------------------------------ data and config


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_the_messages_jsonl_is_read_with_other_keys_ignored(tmp_path):
    rows = [{"messages": list(c), "id": i, "source": "demo"} for i, c in enumerate(CONVERSATIONS[:3])]
    rows[0]["messages"][0] = {**rows[0]["messages"][0], "name": "ignored"}
    assert load_conversations(write_jsonl(tmp_path / "d.jsonl", rows)) == CONVERSATIONS[:3]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([], "holds no conversations"),
        (["{not json"], "line 1: not valid JSON"),
        ([{"messages": CONVERSATIONS[0]}, {"conversation": []}], r"line 2: no 'messages' key \(the row has \['conv"),
        ([{"messages": [{"role": "user", "content": "the"}]}], "line 1: it has no assistant message"),
        ([{"messages": "the movie"}], "line 1: 'messages' must be a non-empty list"),
    ],
)
def test_a_bad_data_file_is_refused_naming_the_line(tmp_path, rows, match):
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(ValueError, match=match):
        train_sft(SFTConfig(policy="unused", data=str(data), output_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_missing_data_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"data {tmp_path / 'none.jsonl'} does not exist"):
        train_sft(SFTConfig(data=str(tmp_path / "none.jsonl")))


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"lora_r": -1}, r"lora_r must be an integer >= 0 \(0: full fine-tuning\), got -1"),
        ({"lora_r": True}, "lora_r must be an integer >= 0"),
        ({"lora_r": 4, "lora_dropout": 1.0}, r"lora_dropout must be in \[0, 1\), got 1.0"),
        ({"lora_r": 4, "lora_alpha": 0}, "lora_alpha must be > 0, got 0"),
        ({"lora_target_modules": []}, "lora_target_modules must name at least one module"),
        ({"weight_dtype": "bfloat16"}, "weight_dtype='bfloat16' needs LoRA"),
        ({"compute_dtype": "int8"}, "compute_dtype must be one of"),
        ({"truncation": "left"}, r"truncation must be one of \('error', 'right'\), got 'left'"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0, got 0.0"),
        ({"max_length": 0}, "max_length must be an integer >= 1, got 0"),
        ({"per_device_train_batch_size": 2.5}, "per_device_train_batch_size must be an integer >= 1, got 2.5"),
        ({"merge_lora": True}, "merge_lora needs a LoRA run"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_value_and_range(fields, match):
    with pytest.raises(ValueError, match=match):
        SFTConfig(**fields)


def test_the_lora_fields_are_the_rl_agents(tmp_path):
    import dataclasses

    from agents import AlgorithmConfig

    ours, theirs = SFTConfig.__dataclass_fields__, AlgorithmConfig.__dataclass_fields__
    for name in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "compute_dtype", "weight_dtype"):
        assert ours[name].metadata == theirs[name].metadata
    assert dataclasses.asdict(SFTConfig())["lora_target_modules"] == AlgorithmConfig().lora_target_modules
    lora = SFTConfig(lora_r=8, lora_alpha=32, lora_target_modules=["q_proj"]).lora_config()
    assert (lora.r, lora.lora_alpha, lora.target_modules) == (8, 32, {"q_proj"})
    assert SFTConfig().lora_config() is None


# ------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> str:
    """A tiny Llama (32 positions) with the tiny chat tokenizer, saved as a policy folder."""
    folder = tmp_path_factory.mktemp("sft_base")
    with hf_progress_bars_disabled():
        tiny_llama(vocab_size=len(TOKENIZER)).save_pretrained(folder)
    TOKENIZER.save_pretrained(folder)
    return str(folder)


def config(base_dir, output_dir, **fields) -> SFTConfig:
    options = dict(
        policy=base_dir,
        output_dir=str(output_dir),
        num_train_epochs=6,
        learning_rate=1e-2,
        per_device_train_batch_size=4,
        logging_steps=1,
        device="cpu",
        progress_bar=False,
    )
    return SFTConfig(**{**options, **fields})


def logits(model, ids=(3, 8, 12, 20, 4, 40)) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def chat_env() -> TextGenChatVectorEnv:
    return TextGenChatVectorEnv(
        2,
        tokenizer=TOKENIZER,
        reward_model=lambda prompts, completions: [0.0] * len(completions),
        prompts=["the movie was"],
        user=fixed_user("so"),
        max_new_tokens=12,
        max_prompt_tokens=12,
    )


def test_full_fine_tuning_lowers_the_loss_and_its_output_loads_as_a_policy(base_dir, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": c} for c in CONVERSATIONS])
    result = train_sft(config(base_dir, tmp_path / "out", data=str(data)))
    losses = [entry["loss"] for entry in result.loss_history]
    assert result.steps == 12 == len(losses) and result.num_conversations == 8
    assert losses[-1] < 0.5 * losses[0]
    assert result.num_labelled_tokens == sum(
        sum(label != IGNORE_INDEX for label in assistant_labels(TOKENIZER, c)[1]) for c in CONVERSATIONS
    )
    final = tmp_path / "out" / "final"
    assert result.output_dir == final and (final / "model.safetensors").is_file() and not result.policy.is_peft
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["saved_to"] == str(final)
    expected = logits(result.policy.model)
    assert not torch.allclose(expected, logits(LMPolicy.from_pretrained(base_dir).model))  # it trained
    assert torch.equal(logits(LMPolicy.from_pretrained(final).model), expected)
    agent = PPO(str(final), chat_env(), n_envs=2, minibatch_size=2)
    assert torch.equal(logits(agent.policy.model), expected)
    model, tokenizer = load_policy(str(final), torch.device("cpu"))  # the labelling page's loader
    assert torch.equal(logits(model), expected) and tokenizer.chat_template == TOKENIZER.chat_template


def test_lora_writes_an_adapter_folder_that_round_trips(base_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(base_dir).parent)  # the base named by a relative path: the adapter names it absolutely
    cfg = config(Path(base_dir).name, tmp_path / "out", lora_r=4, lora_alpha=8, merge_lora=True)
    result = train_sft(cfg, conversations=CONVERSATIONS)
    losses = [entry["loss"] for entry in result.loss_history]
    assert losses[-1] < 0.92 * losses[0]  # a 4k-parameter adapter on a random 32-wide model: from 3.82 to 3.38
    final = result.output_dir
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(Path(base_dir).resolve()) and adapter["r"] == 4
    assert not (final / "model.safetensors").exists()
    expected = logits(result.policy.model)
    monkeypatch.chdir(tmp_path)
    reloaded = LMPolicy.from_pretrained(final)
    assert reloaded.is_peft and torch.equal(logits(reloaded.model), expected)
    with reloaded.model.disable_adapter():  # the base is untouched: the adapters hold all of the training
        assert torch.equal(logits(reloaded.model), logits(LMPolicy.from_pretrained(base_dir).model))
    agent = PPO(str(final), chat_env(), n_envs=2, minibatch_size=2)
    assert agent.policy.is_peft and torch.equal(logits(agent.policy.model), expected)
    model, _ = load_policy(str(final), torch.device("cpu"))
    assert torch.allclose(logits(model), expected, atol=1e-6)
    merged = result.merged_dir  # a plain HF folder: RL from it with new adapters has the SFT policy as KL reference
    assert merged == tmp_path / "out" / "final-merged" and not (merged / "adapter_config.json").exists()
    agent = PPO(str(merged), chat_env(), n_envs=2, minibatch_size=2, lora_r=4)
    with agent.policy.model.disable_adapter():
        assert torch.allclose(logits(agent.policy.model), expected, atol=1e-5)


def test_bfloat16_compute_trains_under_autocast_and_the_result_computes_as_its_saved_folder(base_dir, tmp_path):
    result = train_sft(config(base_dir, tmp_path / "out", compute_dtype="bfloat16"), CONVERSATIONS)
    reference = train_sft(config(base_dir, tmp_path / "fp32"), CONVERSATIONS)
    assert result.loss_history[0]["loss"] != reference.loss_history[0]["loss"]  # the forward ran in bfloat16
    assert result.loss_history[-1]["loss"] < 0.5 * result.loss_history[0]["loss"]
    assert torch.equal(logits(result.policy.model), logits(LMPolicy.from_pretrained(result.output_dir).model))


def test_a_conversation_over_max_length_is_refused_or_cut(base_dir, tmp_path):
    long = conversation(None, "the movie was", "good good", "so", "great great great")  # 6 + 3 + 4 + 4 tokens
    with pytest.raises(ValueError, match=r"conversations\[0\]: the conversation has 17 tokens, more than max_len"):
        train_sft(config(base_dir, tmp_path / "a", max_length=16), [long])
    result = train_sft(config(base_dir, tmp_path / "b", max_length=16, truncation="right", num_train_epochs=1), [long])
    assert result.num_labelled_tokens == 3 + 3  # "good good <|end|>" and "great great great" without its <|end|>
    with pytest.raises(ValueError, match="its first assistant token lies beyond max_length=5"):
        train_sft(config(base_dir, tmp_path / "c", max_length=5, truncation="right"), [long])
    too_long = conversation(None, "the movie was", " ".join(["good"] * 30))
    with pytest.raises(ValueError, match="more than the policy's 32 positions"):
        train_sft(config(base_dir, tmp_path / "d"), [too_long])


# ------------------------------------------------------------------ resume

KILLED_RUN = """
import sys
from transformers import TrainerCallback
from agents import SFTConfig, train_sft

class HangAfterCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 5:
            print("checkpoint 5", flush=True)
            sys.stdin.read()  # waits for the SIGKILL

config = SFTConfig(**__import__("json").loads(sys.argv[1]))
train_sft(config, callbacks=[HangAfterCheckpoint()])
"""


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(base_dir, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": c} for c in CONVERSATIONS])
    fields = dict(policy=base_dir, data=str(data), num_train_epochs=4, learning_rate=1e-2)
    fields.update(per_device_train_batch_size=2, save_steps=1, logging_steps=1, device="cpu", progress_bar=False)
    uninterrupted = train_sft(SFTConfig(**{**fields, "save_steps": 100}, output_dir=str(tmp_path / "full")))
    assert uninterrupted.steps == 16

    output = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, json.dumps({**fields, "output_dir": str(output)})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert process.stdout.readline() == "checkpoint 5\n"  # blocks until the run is in the middle of epoch 2
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=HANG_GUARD_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    checkpoints = output / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5"]
    assert not (output / "final").exists()
    (checkpoints / "checkpoint-6").mkdir()  # a checkpoint the kill cut short (no trainer_state.json): ignored

    with pytest.raises(ValueError, match=r"other settings \(learning_rate: 0.01 there, 0.02 here\)"):
        train_sft(SFTConfig(**{**fields, "learning_rate": 2e-2}, output_dir=str(output)))
    assert main(["sft", "train", *flags({**fields, "output_dir": str(output)})]) == 0  # the same command again
    summary = json.loads((output / "summary.json").read_text())
    assert summary["resumed_from"] == str(checkpoints / "checkpoint-5") and summary["steps"] == 16
    assert not (checkpoints / "checkpoint-6").exists()
    steps = [entry["step"] for entry in summary["loss_history"]]
    assert steps == list(range(1, 17))  # the global step continued from 5
    resumed = LMPolicy.from_pretrained(output / "final")
    assert torch.allclose(logits(resumed.model), logits(uninterrupted.policy.model), atol=1e-5)


def flags(fields: dict) -> list[str]:
    return [item for name, value in fields.items() for item in (f"--{name.replace('_', '-')}", str(value))]


def test_another_module_adds_an_sft_action_through_the_hook(monkeypatch):
    import dataclasses
    import types

    import scripts.sft
    from scripts.args import add_config_command, config_from_args
    from scripts.cli import build_parser

    @dataclasses.dataclass
    class DemoConfig:
        count: int = dataclasses.field(default=3, metadata={"help": "how many"})

    module = types.ModuleType("demo_action")
    module.add_parser = lambda actions: add_config_command(
        actions, "demos", DemoConfig, lambda args: config_from_args(DemoConfig, args).count, "write demos"
    )
    monkeypatch.setitem(sys.modules, "demo_action", module)
    monkeypatch.setattr(scripts.sft, "SFT_SUBCOMMANDS", ["demo_action"])
    args = build_parser().parse_args(["sft", "demos", "--count", "5"])
    assert args.func(args) == 5
    assert build_parser().parse_args(["sft", "train", "--lora-r", "8"]).lora_r == 8
