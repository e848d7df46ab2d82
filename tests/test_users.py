"""Simulated users: the scripted user's rules, the batched LM user (tiny GPT-2), replayed follow-ups, make_user."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_WORDS, make_tiny_tokenizer

from text_gym.chat.users import (
    GENERIC_FOLLOW_UPS,
    USER_INSTRUCTIONS,
    LMUser,
    ReplayUser,
    Script,
    ScriptedUser,
    make_user,
    run_script,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)
ROW = {
    "goal": "find my parcel",
    "facts": [
        {"name": "order", "value": "12345", "ask": r"\border number\b", "reply": "It is {value}."},
        {"name": "zip", "value": "999", "ask": r"\bzip\b", "reply": "My zip is {value}."},
        {"name": "name", "value": "Ann", "ask": r"\bname\b", "reply": "I am {value}."},
    ],
    "required": ["order", "zip"],
    "solution": [r"\btracking\b", "{order}"],
    "patience": 4,
}


def fields_of(*rows):
    return {name: [row[name] for row in rows] for name in rows[0]}


def conversation(*agent_turns, replies=None):
    """system, the opening, then agent turns with placeholder user replies between them."""
    messages = [{"role": "system", "content": "be helpful"}, {"role": "user", "content": "where is my parcel"}]
    for number, turn in enumerate(agent_turns):
        if number:
            messages.append({"role": "user", "content": (replies or {}).get(number, "...")})
        messages.append({"role": "assistant", "content": turn})
    return messages


# ------------------------------------------------------------------------------------------ scripted user
def test_scripted_user_reveals_facts_only_when_asked_and_ends_on_success():
    user = ScriptedUser()
    turns = ["Hello, how can I help", "What is your order number and zip code?", "Let me check."]
    replies = [user([conversation(*turns[: k + 1])], fields_of(ROW))[0] for k in range(3)]
    assert replies == ["Can you help me?", "It is 12345. My zip is 999.", "Are you still there? I need help."]
    assert user([conversation(*turns, "Here is the tracking page for order 12345.")], fields_of(ROW)) == [None]
    outcome = run_script(Script.from_row(ROW), [*turns, "tracking for 12345"])
    assert (outcome.status, outcome.turns, outcome.asked) == ("success", 4, ("order", "zip"))


def test_scripted_user_premature_step_unrelated_question_and_giving_up():
    user = ScriptedUser()
    assert user([conversation("Your tracking number is 12345")], fields_of(ROW)) == [
        "Don't you need some details from me first?"
    ]
    assert user([conversation("Did you try turning it off?")], fields_of(ROW)) == [
        "I'm not sure what you mean. I just want to find my parcel."
    ]
    # the order number is asked for, the zip never: the step in turn 3 is premature, turn 4 exhausts patience
    turns = ["What's your order number?", "Thanks", "tracking 12345", "tracking 12345"]
    assert user([conversation(*turns[:3])], fields_of(ROW)) == ["Don't you need some details from me first?"]
    assert user([conversation(*turns)], fields_of(ROW)) == [None]
    assert run_script(Script.from_row(ROW), turns).status == "gave_up"
    # the last required fact asked in the same turn as the step: the step does not count yet
    assert run_script(Script.from_row(ROW), ["order number?", "zip? tracking 12345"]).status == "open"


def test_scripted_user_is_deterministic_and_reads_each_row():
    other = {**ROW, "facts": [{**ROW["facts"][0], "value": "777"}, *ROW["facts"][1:]], "patience": 1}
    batch = [conversation("Your order number?"), conversation("Your order number?")]
    first = ScriptedUser()(batch, fields_of(ROW, other))
    assert first == ["It is 12345.", None]  # the second row has patience 1
    assert ScriptedUser()(batch, fields_of(ROW, other)) == first
    assert ScriptedUser()(batch[::-1], fields_of(other, ROW)) == first[::-1]
    # no patience field: the constructor's default; without one, never gives up
    no_patience = {k: v for k, v in ROW.items() if k != "patience"}
    assert ScriptedUser(patience=1)([batch[0]], fields_of(no_patience)) == [None]
    assert ScriptedUser()([conversation(*["hmm"] * 20)], fields_of(no_patience)) == ["I still need help with this."]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"facts": [{"name": "x", "value": "1", "ask": "x"}]}, r"facts\[0\] must be an object"),
        ({"facts": [{"name": "x", "value": "1", "ask": "(", "reply": "r"}]}, r"facts\[0\].ask: invalid regular"),
        ({"required": ["nope"]}, "field 'required' must be a list of fact names"),
        ({"solution": ["{ordr} tracking"]}, r"names unknown fact\(s\) \['ordr'\]"),
        ({"solution": "tracking"}, "field 'solution' must be a list"),
        ({"solution": ["(tracking"]}, "solution: invalid regular expression"),
        ({"patience": 0}, "field 'patience' must be an integer >= 1"),
        ({"facts": [ROW["facts"][0], ROW["facts"][0]], "required": []}, "fact names must be unique"),
    ],
)
def test_scripted_user_rejects_bad_rows_naming_the_conversation_and_field(change, message):
    with pytest.raises(ValueError, match=message) as error:
        ScriptedUser()([conversation("hi")], fields_of({**ROW, **change}))
    assert "ScriptedUser, conversation 0" in str(error.value)


def test_scripted_user_rejects_bad_conversations_and_prompts_without_rules():
    with pytest.raises(ValueError, match=r"must end with the agent's \(assistant\) turn"):
        ScriptedUser()([conversation("hi")[:-1]], fields_of(ROW))
    with pytest.raises(ValueError, match="field 'goal' has 2 values for 1 conversations"):
        ScriptedUser()([conversation("hi")], fields_of(ROW, ROW))
    with pytest.raises(ValueError, match=r"the script field\(s\) \['facts', 'goal'\] but no 'solution'"):
        ScriptedUser()([conversation("hi")], {"goal": ["x"], "facts": [[]], "topic": ["y"]})


def test_scripted_user_on_prompts_without_script_fields_asks_generic_follow_ups():
    """No script field (plain prompts, or unrelated fields only): the generic script, whatever the agent says."""
    batch = [conversation("hi"), conversation("a", "b ?"), conversation("a", "b", "c"), conversation(*"abcd")]
    assert ScriptedUser()(batch, {}) == [*GENERIC_FOLLOW_UPS, GENERIC_FOLLOW_UPS[0]]
    assert ScriptedUser()(batch[:2], {"topic": ["x", "y"]}) == list(GENERIC_FOLLOW_UPS[:2])
    assert ScriptedUser(patience=2, follow_ups=["more?"])(batch, {}) == ["more?", None, None, None]
    with pytest.raises(ValueError, match=r"follow_ups must be a non-empty list of non-empty strings, got \[''\]"):
        ScriptedUser(follow_ups=[""])
    with pytest.raises(ValueError, match=r"must end with the agent's \(assistant\) turn"):
        ScriptedUser()([conversation("hi")[:-1]], {})


# ------------------------------------------------------------------------------------------------ LM user
def tiny_chat_lm():
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tiny_tokenizer([*TINY_WORDS, "system", "user", "assistant", ":"])
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=16, n_layer=1, n_head=2)
    config.eos_token_id = config.bos_token_id = tokenizer.eos_token_id
    return GPT2LMHeadModel(config), tokenizer


LM_BATCH = [
    [{"role": "system", "content": "you"}, {"role": "user", "content": "my day was bad"}],
    [{"role": "user", "content": "the movie was good"}],
    [
        {"role": "user", "content": "i love food"},
        {"role": "assistant", "content": "so"},
        {"role": "user", "content": "ok"},
    ],
]
LM_BATCH = [[*c, {"role": "assistant", "content": "you are very happy ?"}] for c in LM_BATCH]


class CountingGenerate:
    def __init__(self, model):
        self.calls, self.inputs, self.generate = 0, [], model.generate

    def __call__(self, **kwargs):
        self.calls += 1
        self.inputs.append(kwargs)
        return self.generate(**kwargs)


def test_lm_user_generates_the_whole_batch_in_one_call_with_roles_swapped():
    model, tokenizer = tiny_chat_lm()
    user = LMUser(model, tokenizer, persona="i am sad", max_reply_tokens=5, stop_phrases=["zzz"])
    model.generate = counter = CountingGenerate(model)
    replies = user(LM_BATCH, {})
    assert counter.calls == 1 and len(replies) == 3 and all(isinstance(r, str) and r for r in replies)
    assert counter.inputs[0]["max_new_tokens"] == 5
    # what the LM sees: its persona as system, the agent's system message dropped, user <-> assistant swapped
    messages = user.lm_messages(LM_BATCH[2], {})
    assert messages == [
        {"role": "system", "content": f"i am sad {USER_INSTRUCTIONS}"},
        {"role": "assistant", "content": "i love food"},
        {"role": "user", "content": "so"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "you are very happy ?"},
    ]
    # left padding: each row is its rendered prompt, right-aligned
    ids, mask = counter.inputs[0]["input_ids"], counter.inputs[0]["attention_mask"]
    for row, conversation in enumerate(LM_BATCH):
        text = tokenizer.apply_chat_template(
            user.lm_messages(conversation, {}), tokenize=False, add_generation_prompt=True
        )
        expected = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids[row, ids.shape[1] - len(expected) :].tolist() == expected
        assert mask[row].tolist() == [0] * (ids.shape[1] - len(expected)) + [1] * len(expected)


def test_lm_user_persona_goal_and_facts_come_from_the_fields():
    model, tokenizer = tiny_chat_lm()
    user = LMUser(model, tokenizer)
    system = user.system_message({"persona": "You are Ann.", "goal": "find my parcel", "facts": ROW["facts"][:1]})
    assert system == (
        "You are Ann. Your goal: find my parcel. Details you know; give one only when asked for it: order: 12345. "
        + USER_INSTRUCTIONS
    )


def test_lm_user_is_reproducible_under_a_seed_and_leaves_the_global_rng_alone():
    model, tokenizer = tiny_chat_lm()

    def run(seed):
        user = LMUser(model, tokenizer, max_reply_tokens=6, temperature=1.0, seed=seed, stop_phrases=["zzz"])
        return [user(LM_BATCH, {}) for _ in range(2)]

    torch.manual_seed(123)
    first = run(0)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert run(0) == first
    assert torch.rand(1) == after  # the user sampled under fork_rng
    assert first[0] != first[1]  # a new seed per call
    assert run(1) != first


def test_lm_user_ends_on_max_turns_stop_phrase_and_rejects_bad_input():
    model, tokenizer = tiny_chat_lm()
    model.generate = counter = CountingGenerate(model)
    assert LMUser(model, tokenizer, max_turns=1)(LM_BATCH, {}) == [None, None, None]
    assert counter.calls == 0  # nothing to generate
    greedy = LMUser(model, tokenizer, temperature=0, max_reply_tokens=4, stop_phrases=["zzz"])([LM_BATCH[0]], {})[0]
    stop = greedy.split()[0]
    assert LMUser(model, tokenizer, temperature=0, max_reply_tokens=4, stop_phrases=[stop])([LM_BATCH[0]], {}) == [None]
    with pytest.raises(ValueError, match="more than the model's context of 128 tokens"):
        LMUser(model, tokenizer, max_reply_tokens=120)(LM_BATCH, {})
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        LMUser(model, tokenizer, temperature=-1)
    with pytest.raises(ValueError, match="needs its tokenizer"):
        LMUser(model)
    with pytest.raises(TypeError, match="LMUser model must be a causal LM object"):
        LMUser(3)
    plain = make_tiny_tokenizer()
    with pytest.raises(ValueError, match="has no chat template"):
        LMUser(model, plain)


# -------------------------------------------------------------------------------------------- replay user
def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_replay_user_says_the_follow_ups_in_order_then_ends(tmp_path):
    path = write_jsonl(
        tmp_path / "replay.jsonl",
        [{"prompt": "where is my parcel", "follow_ups": ["It is 12345.", "Thanks!"], "other": 1}, ""],
    )
    user = make_user(f"replay:{path}")
    assert isinstance(user, ReplayUser)
    turns = ["order number?", "tracking", "anything else?"]
    assert [user([conversation(*turns[: k + 1])], {})[0] for k in range(3)] == ["It is 12345.", "Thanks!", None]


@pytest.mark.parametrize(
    ("lines", "error", "message"),
    [
        (['{"prompt": "a", "follow_ups": ["x"]}', "{oops"], ValueError, "line 2: not valid JSON"),
        (['{"prompt": "a", "follow_ups": "x"}'], ValueError, "line 1: 'follow_ups' must be a list"),
        (['{"prompt": "a", "follow_ups": ["x", ""]}'], ValueError, "line 1: 'follow_ups' must be a list"),
        (['{"follow_ups": ["x"]}'], ValueError, "line 1: needs a non-empty string 'prompt'"),
        (['{"prompt": "a", "follow_ups": []}', '{"prompt": "a", "follow_ups": []}'], ValueError, "already has"),
        ([""], ValueError, "has no rows"),
    ],
)
def test_replay_user_rejects_bad_files_naming_file_and_line(tmp_path, lines, error, message):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(error, match=message) as raised:
        ReplayUser(path)
    assert str(path) in str(raised.value)


def test_replay_user_errors_on_missing_file_and_unknown_conversation(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"replay file .*missing\.jsonl does not exist"):
        make_user(f"replay:{tmp_path / 'missing.jsonl'}")
    user = ReplayUser(write_jsonl(tmp_path / "r.jsonl", [{"prompt": "a", "follow_ups": []}]))
    with pytest.raises(ValueError, match="has no row whose prompt is 'where is my parcel'"):
        user([conversation("hi")], {})


# ------------------------------------------------------------------------------------------------ make_user
def test_make_user_resolves_names_and_rejects_unknown_specs(tmp_path):
    assert isinstance(make_user("scripted"), ScriptedUser)

    def callable_user(conversations, fields):
        return ["hi"] * len(conversations)

    assert make_user(callable_user) is callable_user
    model, tokenizer = tiny_chat_lm()
    model.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    user = make_user(f"lm:{tmp_path / 'lm'}")
    assert isinstance(user, LMUser) and user.tokenizer.chat_template == CHAT_TEMPLATE
    for spec in ("scriptd", "lm:", "replay:", "human"):
        with pytest.raises(ValueError, match=r"unknown user spec .*valid: 'scripted', 'lm', 'lm:<model id or folder>'"):
            make_user(spec)
    with pytest.raises(TypeError, match="user must be a spec string"):
        make_user(3)
