"""Conversation preference pairs: the JSONL format (TRL's conversational one), ``text-gym reward label --env`` on a
chat env, the reward-model trainer on them, and that a trained reward model scores a turn in the trainer's encoding
exactly as ``reward_model="hf:..."`` scores it through the chat env."""

import json

import numpy as np
import pytest
import torch
from tiny_chat import tiny_chat_tokenizer
from tiny_lm import tiny_model
from tiny_reward import save_backbone

from reward_models import (
    PreferenceDataError,
    PreferencePair,
    RewardTrainerConfig,
    as_conversation,
    load_preferences,
    parse_row,
    render_context,
    render_pairs,
    score_pairs,
    train_reward_model,
)
from reward_models.human import LabelServerConfig, label_stats
from reward_models.training.bradley_terry_trainer import PreferenceCollator
from scripts.cli import main
from text_gym import TextGenChatEnv

CONVERSATION = [
    {"role": "system", "content": "be kind"},
    {"role": "user", "content": "the food was bad"},
    {"role": "assistant", "content": "sad day"},
    {"role": "user", "content": "and the movie"},
]


@pytest.fixture(scope="module")
def chat_policy_dir(tmp_path_factory):
    """A tiny random GPT-2 (640 positions) with the tiny chat tokenizer, for ``reward label --env``."""
    tokenizer = tiny_chat_tokenizer()
    folder = tmp_path_factory.mktemp("chat_policy")
    tiny_model(vocab_size=len(tokenizer), n_positions=640).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def row(**fields):
    return json.dumps(
        {
            "prompt": CONVERSATION,
            "chosen": [{"role": "assistant", "content": "great fun"}],
            "rejected": [{"role": "assistant", "content": "bad film"}],
            **fields,
        }
    )


def test_a_conversation_pair_is_trl_conversational_format_and_round_trips(tmp_path):
    pair = PreferencePair(as_conversation(CONVERSATION), "great fun", "bad film")
    assert json.loads(pair.to_json()) == json.loads(row())
    path = tmp_path / "prefs.jsonl"
    ranking = [[{"role": "assistant", "content": text}] for text in ("good", "ok", "bad")]
    path.write_text(pair.to_json() + "\n" + json.dumps({"prompt": CONVERSATION, "ranking": ranking}) + "\n")
    pairs = load_preferences(path)
    assert pairs[0] == pair
    conversation = as_conversation(CONVERSATION)
    assert pairs[1:] == [
        PreferencePair(conversation, "good", "ok"),
        PreferencePair(conversation, "good", "bad"),
        PreferencePair(conversation, "ok", "bad"),
    ]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"prompt": [{"role": "system", "content": "x"}]}, "has no user turn"),
        ({"prompt": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]}, "unknown role 'bot'"),
        ({"prompt": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}, "must end with a user"),
        ({"prompt": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]}, "only be the first"),
        ({"prompt": [{"role": "user", "text": "x"}]}, "message 0: expected"),
        ({"chosen": "great fun"}, "field 'chosen' of a conversation pair must be"),
        ({"rejected": [{"role": "user", "content": "bad film"}]}, "field 'rejected' of a conversation pair"),
        ({"rejected": [{"role": "assistant", "content": "great fun"}]}, "identical"),
    ],
)
def test_bad_conversation_rows_are_refused_with_the_reason(tmp_path, fields, message):
    with pytest.raises(ValueError, match=message):
        parse_row(row(**fields))
    path = tmp_path / "bad.jsonl"
    path.write_text(row() + "\n" + row(**fields) + "\n")
    with pytest.raises(PreferenceDataError, match=f"line 2: .*{message}"):
        load_preferences(path)


def test_render_pairs_needs_a_chat_tokenizer():
    pair = PreferencePair(as_conversation(CONVERSATION), "great fun", "bad film")
    with pytest.raises(ValueError, match="pass chat_tokenizer"):
        render_pairs([pair], None)
    tokenizer = tiny_chat_tokenizer()
    rendered = render_pairs([pair, PreferencePair("text prompt", "a", "b")], tokenizer)
    assert rendered[0].prompt == tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert rendered[1].prompt == "text prompt"


def test_reward_label_on_a_chat_env_writes_conversation_pairs_and_the_trainer_scores_them_as_the_env(
    tmp_path, chat_policy_dir, capfd
):
    def label(output):
        args = ["reward", "label", "--env", "TextGenChat-v0", "--policy", chat_policy_dir, "--gold", "vader"]
        return main([*args, "--output", str(output), "--max-new-tokens", "6", "--completions-per-prompt", "3"])

    output = tmp_path / "prefs.jsonl"
    assert label(output) == 0
    console = capfd.readouterr()
    assert "conversation preference pairs" in console.out
    assert "attention_mask" not in console.err  # transformers' padding warning of cached decoding is silenced
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert rows and all(isinstance(r["prompt"], list) and r["prompt"][-1]["role"] == "user" for r in rows)
    assert all(len(r["chosen"]) == 1 and r["chosen"][0]["role"] == "assistant" for r in rows)
    assert max(sum(m["role"] == "assistant" for m in r["prompt"]) for r in rows) >= 1  # some stopped at a later turn
    again = tmp_path / "again.jsonl"
    assert label(again) == 0  # same seed: the same pairs
    assert again.read_text() == output.read_text()

    pairs = load_preferences(output)
    config = RewardTrainerConfig(
        model=save_backbone(tmp_path / "backbone"),
        train_file=str(output),
        chat_tokenizer=chat_policy_dir,
        max_length=64,
        eval_fraction=0.0,
        num_train_epochs=1,
        batch_size=8,
        learning_rate=1e-3,
        output_dir=str(tmp_path / "rm"),
        device="cpu",
    )
    result = train_reward_model(config)
    assert result.steps == -(-len(pairs) // 8)

    # the pair with the longest conversation, scored in the trainer's encoding ...
    pair = max(pairs, key=lambda p: len(p.prompt))
    tokenizer = tiny_chat_tokenizer()
    reward_model = result.reward_model
    batch = PreferenceCollator(reward_model)(render_pairs([pair], tokenizer))
    with torch.no_grad():
        raw = reward_model.head_output(reward_model.model(**batch["inputs"]).logits)[0].item()
    trained = (raw - reward_model.mean) / reward_model.std

    # ... and through the chat env, replaying the conversation's turns, then the chosen turn
    messages = [{"role": r, "content": c} for r, c in pair.prompt]
    user_turns = [m["content"] for m in messages if m["role"] == "user"][1:]

    def replay_user(conversations, fields):
        return [user_turns[sum(m["role"] == "assistant" for m in c) - 1] for c in conversations]

    env = TextGenChatEnv(
        tokenizer=tokenizer,
        reward_model=f"hf:{result.output_dir}",
        prompts=[messages[0]["content"]],
        user=replay_user,
        max_turns=len(user_turns) + 1,
        max_new_tokens=200,
        max_prompt_tokens=64,
    )
    env.reset(seed=0)
    agent_turns = [m["content"] for m in messages if m["role"] == "assistant"] + [pair.chosen]
    for text in agent_turns:
        for token in [*tokenizer(text, add_special_tokens=False)["input_ids"], env.end_of_turn_id]:
            _, reward, *_, info = env.step(token)
    assert info["turn_text"] == pair.chosen and env.conversation[:-1] == messages
    assert render_context(pair.prompt, tokenizer) == env.vector_env.template.render(messages, True)
    np.testing.assert_allclose(reward, trained, rtol=1e-5, atol=1e-6)

    # reward eval and label stats read the conversation pairs too
    capfd.readouterr()
    evaluate = ["reward", "eval", "--data", str(output), "--reward-model", f"hf:{result.output_dir}", "--gold", "vader"]
    assert main([*evaluate, "--chat-tokenizer", chat_policy_dir]) == 0
    metrics = json.loads(capfd.readouterr().out)
    assert metrics["num_pairs"] == len(pairs) and metrics["gold_accuracy"] == 1.0  # gold labelled them
    assert main(evaluate) != 0
    assert "has conversation pairs (a 'prompt' list of messages); pass chat_tokenizer" in capfd.readouterr().err
    with pytest.raises(ValueError, match="conversation prompts; render them"):
        score_pairs(result.reward_model, pairs)
    stats = label_stats(output)
    assert stats["pairs"] == len(pairs) and stats["prompts"] == len({p.prompt for p in pairs})


def test_the_trainer_refuses_conversation_pairs_without_a_chat_tokenizer(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text(row() + "\n")
    config = RewardTrainerConfig(model="unused", train_file=str(path), eval_fraction=0.0, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="pass chat_tokenizer"):
        train_reward_model(config)


def test_label_serve_env_samples_conversation_items_and_saves_them_for_a_restart(tmp_path, chat_policy_dir):
    from reward_models.human import build_items, load_candidates, resolve_candidates
    from scripts.label import _conversation_candidates

    config = LabelServerConfig(
        output=str(tmp_path / "prefs.jsonl"),
        env="TextGenChat-v0",
        policy=chat_policy_dir,
        max_new_tokens=5,
        completions_per_prompt=3,
        device="cpu",
    )
    candidates = resolve_candidates(
        config, lambda: pytest.fail("no text prompts"), lambda: _conversation_candidates(config)
    )
    assert len(candidates) == 16  # one conversation per prompt of TextGenChat-v0
    assert all(c.prompt[-1][0] == "user" and 1 <= len(c.completions) <= 3 for c in candidates)
    assert any(sum(role == "assistant" for role, _ in c.prompt) for c in candidates)  # played turns
    assert load_candidates(tmp_path / "prefs.jsonl.candidates.jsonl") == candidates
    assert _conversation_candidates(config) == candidates  # deterministic in the seed
    item = build_items(candidates)["pair"][0]
    assert item.to_dict()["prompt"] == [{"role": r, "content": c} for r, c in item.prompt]
    with pytest.raises(ValueError, match="not a chat env"):
        _conversation_candidates(LabelServerConfig(env="TextGen-v0", policy=chat_policy_dir, device="cpu"))


def test_flags_that_do_not_apply_to_a_chat_env_are_refused():
    from reward_models import LabelConfig

    with pytest.raises(ValueError, match="batch_size=8 does not apply with env='TextGenChat-v0'"):
        LabelConfig(env="TextGenChat-v0", batch_size=8)
    with pytest.raises(ValueError, match="batch_size=8 does not apply"):
        LabelServerConfig(env="TextGenChat-v0", batch_size=8)
    with pytest.raises(ValueError, match="pass one of them"):
        LabelServerConfig(env="TextGenChat-v0", candidates="c.jsonl")


def test_rank_and_edit_labels_of_a_conversation_item_are_conversation_rows(tmp_path):
    from label_server import call, running_server

    from reward_models.human import Candidates, load_candidates

    conversation = as_conversation(CONVERSATION)
    path = tmp_path / "prefs.jsonl"
    with running_server(path, [Candidates(conversation, ("good", "ok", "bad"))]) as url:
        for mode, fields in (("rank", {"ranking": [2, 0, 1]}), ("edit", {"text": "great"})):
            status, body = call(f"{url}/api/next?annotator=alice&mode={mode}")
            assert status == 200 and body["item"]["prompt"] == CONVERSATION
            assert call(f"{url}/api/label", {"annotator": "alice", "item": body["item"]["key"], **fields})[0] == 200
    rank, edit = (json.loads(line) for line in path.read_text().splitlines())
    assert rank["prompt"] == edit["prompt"] == CONVERSATION
    assert rank["ranking"] == [[{"role": "assistant", "content": text}] for text in ("bad", "good", "ok")]
    assert edit["chosen"] == [{"role": "assistant", "content": "great"}]
    assert load_preferences(path) == [
        PreferencePair(conversation, "bad", "good"),
        PreferencePair(conversation, "bad", "ok"),
        PreferencePair(conversation, "good", "ok"),
        PreferencePair(conversation, "great", "good"),
    ]
    bad = tmp_path / "candidates.jsonl"
    bad.write_text(json.dumps({"prompt": [{"role": "robot", "content": "x"}], "completions": ["a"]}) + "\n")
    with pytest.raises(ValueError, match=r"candidates\.jsonl, line 1: field 'prompt', message 0: unknown role 'robot'"):
        load_candidates(bad)


def test_with_the_smollm2_tokenizer_the_trainer_renders_the_context_the_chat_env_scores_in():
    from reward_models.common.packaged import load_tokenizer
    from text_gym import ChatTemplate

    tokenizer = load_tokenizer("smollm2")
    for messages in (CONVERSATION, CONVERSATION[1:]):  # with a system message, and with SmolLM2's default one
        text = render_context(as_conversation(messages), tokenizer)
        assert text == ChatTemplate(tokenizer).render(messages, add_generation_prompt=True)
        assert text.endswith("<|im_start|>assistant\n") and messages[-1]["content"] in text
