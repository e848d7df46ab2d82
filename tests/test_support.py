"""The customer-support desk: prompt rows, the scripted customer on every scenario, the exact gold metric and the
per-turn proxy reward (hand-computed numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from reward_models import call_reward, make_reward_model
from text_gym.chat.users import ScriptedUser
from text_gym.prompts.rows import load_prompt_source
from text_gym.tasks.support import SCENARIOS, SupportTurnReward, support_rows, support_success

# A competent agent: one question per required fact, then the right next step of the scenario.
QUESTIONS = {
    "email": "Could you tell me your email address?",
    "username": "What is your username?",
    "order_number": "What is your order number?",
    "reason": "What is wrong with it?",
    "postcode": "What is your postcode?",
    "card_last_four": "What are the last four digits of your card?",
    "charge_date": "On which date were you charged?",
    "phone": "What is your phone number?",
    "new_address": "What is your new address?",
    "received_item": "Which item did you receive?",
    "photo": "Do you have a photo of the damage?",
    "company_name": "What is your company name?",
}
STEPS = {
    "password_reset": "I have sent a reset link to {email}.",
    "refund": "I have started a refund for order {order_number}.",
    "delivery_delay": "I have opened an investigation to trace order {order_number}.",
    "double_charge": "Sorry about that, I have issued a refund for the duplicate charge.",
    "account_locked": "I have sent a verification code to {phone}.",
    "change_address": "I have updated your address to {new_address}.",
    "cancel_subscription": "I have cancelled the subscription for {email}.",
    "wrong_item": "I have emailed you a return label, and we will send a replacement.",
    "damaged_item": "We will send a replacement for order {order_number}.",
    "company_invoice": "I have issued an invoice to {company_name}.",
}


def fields_of(*rows):
    return {name: [row[name] for row in rows] for name in rows[0] if name != "prompt"}


def values(row):
    return {fact["name"]: fact["value"] for fact in row["facts"]}


def play(row, agent_turns, user=None):
    """Run the scripted customer against fixed agent turns; returns (conversation, the customer's replies)."""
    user = user or ScriptedUser()
    messages = [{"role": "system", "content": "support"}, {"role": "user", "content": row["prompt"]}]
    replies = []
    for turn in agent_turns:
        messages.append({"role": "assistant", "content": turn})
        reply = user([messages], fields_of(row))[0]
        replies.append(reply)
        if reply is None:
            break
        messages.append({"role": "user", "content": reply})
    return messages, replies


def test_rows_split_and_fields():
    train, test, every = support_rows("train"), support_rows("test"), support_rows("all")
    assert (len(train), len(test), len(every), len(SCENARIOS)) == (90, 30, 120, 10)
    key = [(r["scenario"], r["prompt"], str(r["facts"])) for r in every]
    assert len(set(key)) == 120
    assert not {str(r["facts"]) for r in train} & {str(r["facts"]) for r in test}
    assert support_rows("test") == test  # generated deterministically
    rows = load_prompt_source(train)
    assert rows.field_names == ("scenario", "persona", "goal", "facts", "required", "solution", "patience")
    assert {r["scenario"] for r in test} == {s.name for s in SCENARIOS}
    with pytest.raises(ValueError, match="split must be one of"):
        support_rows("dev")
    refunds = support_rows("train", scenarios=["refund"])
    assert refunds == [r for r in train if r["scenario"] == "refund"] and len(refunds) == 9
    for bad in (["refunds"], "refund", []):
        with pytest.raises(ValueError, match=r"scenarios must be a non-empty list of scenario names from \['password"):
            support_rows("train", scenarios=bad)


@pytest.mark.parametrize("row", support_rows("all")[::4], ids=lambda row: row["scenario"])
def test_every_scenario_is_solved_by_asking_then_giving_the_step(row):
    ask = " ".join(QUESTIONS[name] for name in row["required"])
    step = STEPS[row["scenario"]].format(**values(row))
    conversation, replies = play(row, [ask, step])
    assert replies[1] is None  # satisfied: the customer ends the conversation
    for name in row["required"]:  # every required fact was revealed in the reply to the questions
        assert values(row)[name] in replies[0]
    assert support_success([conversation], **fields_of(row)).tolist() == [1.0]
    # the same step before the questions is premature, and a silent agent makes the customer give up
    conversation, replies = play(row, [step])
    assert replies == ["Don't you need some details from me first?"]
    conversation, replies = play(row, ["I see."] * 10)
    assert len(replies) == row["patience"] and replies[-1] is None
    assert support_success([conversation], **fields_of(row)).tolist() == [0.0]


def test_support_success_is_exact_on_hand_written_conversations():
    row = support_rows("all")[0]  # password reset: email required, patience 4
    email = values(row)["email"]
    step = f"I have sent a reset link to {email}."
    cases = {
        "success": (["What is your email?", step], 1.0),
        "success on the last patient turn": (["Hello.", "Hmm.", "Your email, please?", step], 1.0),
        "gave up": (["Hello.", "Hmm.", "Your email, please?", "Let me see.", step], 0.0),
        "asked, wrong step": (["What is your email?", f"I have closed the account {email}."], 0.0),
        "step without asking": ([f"I have sent a reset link to {email}.", "Anything else?"], 0.0),
        "asked and step in one turn": ([f"What is your email? I sent a reset link to {email}."], 0.0),
    }
    conversations = [play(row, turns, user=lambda c, f: ["..."])[0] for turns, _ in cases.values()]
    scores = support_success(conversations, **fields_of(*[row] * len(cases)))
    assert dict(zip(cases, scores.tolist(), strict=True)) == {name: gold for name, (_, gold) in cases.items()}
    with pytest.raises(ValueError, match=r"support_success needs the per-prompt fields \['solution', 'patience'\]"):
        support_success(conversations[:1], facts=[row["facts"]], required=[row["required"]])


def test_proxy_reward_per_turn_by_hand():
    row = next(r for r in support_rows("all") if r["scenario"] == "refund")  # required: order_number, reason
    order = values(row)["order_number"]
    opening, revealed = row["prompt"], f"{row['prompt']} My order number is {order}."
    cases = [
        (opening, "What is your order number?", 0.5 * 1 / 2),
        (revealed, "What is your order number? What is wrong with it?", 0.5 * 1 / 2),  # the order is known
        (opening, "Please tell me your order number and what is wrong.", 0.5 * 2 / 2 + 0.1),
        (opening, f"I have refunded order {order}.", 1.0),  # a premature step still pays: the gold would be 0
        (opening, " ".join(["ok"] * 80), -0.5 * 40 / 40),
    ]
    prompts, completions, expected = zip(*cases, strict=True)
    fields = fields_of(*[row] * len(cases))
    scores = call_reward(make_reward_model("support-turn"), prompts, completions, fields)
    np.testing.assert_allclose(scores, expected)
    weighted = call_reward(SupportTurnReward(ask=1.0, step=2.0, polite=0.0, length=0.0), prompts, completions, fields)
    np.testing.assert_allclose(weighted, [0.5, 0.5, 1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="takes no argument"):
        make_reward_model("support-turn:2")
    with pytest.raises(ValueError, match="max_words must be an integer >= 1"):
        SupportTurnReward(max_words=0)
    with pytest.raises(ValueError, match="needs the per-prompt field"):
        call_reward(SupportTurnReward(), prompts, completions, {})


# ------------------------------------------------------------------------------------- TextGenSupport-v0
def agent_turns_for(row):
    """A competent agent's two turns and a silent agent's turn for ``row``."""
    return [" ".join(QUESTIONS[name] for name in row["required"]), STEPS[row["scenario"]].format(**values(row))]


def play_env(env, tokenizer, index, turns):
    """Write ``turns`` token by token (each closed by the end-of-turn token) until the episode ends."""
    env.reset(options={"prompt_index": index})
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    rewards = []
    for turn in turns:
        for action in [*tokenizer.convert_tokens_to_ids(turn.split()), end]:
            _, reward, terminated, truncated, info = env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                return rewards, info
    raise AssertionError("the episode did not end")


def test_support_env_end_to_end_with_scripted_agents():
    import gymnasium as gym
    from tiny_chat import tiny_chat_tokenizer

    rows = support_rows("train")
    good, silent = [0, 9, 30], [40, 70]  # password reset, refund, delivery delay; account locked, damaged item
    scripts = {i: agent_turns_for(rows[i]) for i in good} | {i: ["I see."] * 10 for i in silent}
    words = sorted({word for turns in scripts.values() for turn in turns for word in turn.split()})
    tokenizer = tiny_chat_tokenizer(words)
    env = gym.make("TextGenSupport-v0", tokenizer=tokenizer)
    for index, turns in scripts.items():
        rewards, info = play_env(env, tokenizer, index, turns)
        gold = support_success([info["conversation"]], **fields_of(rows[index]))[0]
        assert info["stop_reason"] == "user_ended"
        assert info["num_turns"] == (2 if index in good else rows[index]["patience"])
        assert gold == float(index in good)
        assert rewards[-1] == pytest.approx(info["turn_reward"] + gold)  # the gold is the conversation reward
        assert info["score"] == pytest.approx(sum(rewards))
    assert [m["role"] for m in info["conversation"]][:3] == ["system", "user", "assistant"]
    vector = gym.make_vec("TextGenSupport-v0", num_envs=2, tokenizer=tokenizer)
    assert isinstance(vector.user, ScriptedUser) and vector.max_turns == 6 and vector.num_envs == 2


@pytest.mark.slow
def test_support_env_with_the_packaged_smollm2_tokenizer_and_an_lm_customer():
    import gymnasium as gym

    from reward_models import load_tokenizer
    from text_gym.chat.users import LMUser

    tokenizer = load_tokenizer("smollm2")
    row = support_rows("train")[0]
    turns = [*agent_turns_for(row), *["Is there anything else I can do?"] * 4]  # max_turns 6
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    actions = [a for turn in turns for a in [*tokenizer(turn, add_special_tokens=False)["input_ids"], end]]
    for user in ("scripted", LMUser(max_reply_tokens=12, seed=0, max_turns=2)):  # one LM reply, then it ends
        env = gym.make("TextGenSupport-v0", tokenizer=tokenizer, user=user)
        env.reset(options={"prompt_index": 0})
        for action in actions:
            _, reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        conversation = info["conversation"]
        assert [m["content"] for m in conversation if m["role"] == "assistant"] == turns[: info["num_turns"]]
        assert all(isinstance(m["content"], str) and m["content"] for m in conversation)
        gold = support_success([conversation], **fields_of(row))[0]
        assert reward == pytest.approx(info["turn_reward"] + gold)
        # the BPE round trip keeps the agent's text: the scripted customer is satisfied; the LM user ends at max_turns
        assert (gold, info["stop_reason"], info["num_turns"]) == (1.0, "user_ended", 2)
