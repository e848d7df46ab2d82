"""PPO and the REINFORCE family on the multi-turn chat env (env-inserted user turns): the KV-cached rollout matches
a full forward of the final conversation, env-written tokens carry no loss and no KL, GAE runs over the agent's
tokens only, per-turn rewards sit at the tokens that ended their turns and are learned."""

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from tiny_chat import fixed_user, tiny_chat_tokenizer
from tiny_lm import PROMPTS, positive_fraction, tiny_env, tiny_model

from agents import GRPO, PPO, REINFORCE, LMPolicy, collect_rollout, evaluate
from agents.common.advantages import gae
from text_gym import TextGenChatEnv, TextGenChatVectorEnv

TOKENIZER = tiny_chat_tokenizer()
REPLIES = ["ok", "so it is", "it was not so good and i hate it"]


def varied_user(conversations, fields):
    """Replies of 1, 3 or 9 words, chosen by the length of the conversation so far (rows differ)."""
    return [REPLIES[sum(len(m["content"]) for m in c) % 3] for c in conversations]


def chat_env(num_envs: int, user=varied_user, max_new_tokens: int = 22, **kwargs) -> TextGenChatVectorEnv:
    kwargs = {"reward_model": positive_fraction, "max_turns": 3, "max_turn_tokens": 3, **kwargs}
    return TextGenChatVectorEnv(
        num_envs,
        tokenizer=TOKENIZER,
        prompts=PROMPTS,
        user=user,
        max_new_tokens=max_new_tokens,
        max_prompt_tokens=8,
        autoreset_mode=AutoresetMode.DISABLED,
        **kwargs,
    )


def chat_model(seed: int = 0):
    return tiny_model(vocab_size=len(TOKENIZER), seed=seed)


def _rollout(env, seed=0, temperature=1.3):
    torch.manual_seed(seed)
    policy = LMPolicy(chat_model(seed), value_head=True)
    torch.nn.init.normal_(policy.value_head.weight)  # values that differ from token to token
    reference = policy.reference_copy()
    generator = torch.Generator().manual_seed(seed)
    prompt_index = np.arange(env.num_envs) % len(PROMPTS)
    buffer = collect_rollout(policy, env, prompt_index, generator, temperature, with_values=True, ref_policy=reference)
    return policy, buffer


@pytest.mark.parametrize("compact_ratio", [1.0, float("inf")])  # compact the KV cache at every step / never
def test_rollout_logprobs_match_a_full_forward_of_the_final_conversation(monkeypatch, compact_ratio):
    import agents.common.rollout

    compactions = []
    compact = agents.common.rollout._compact_cache
    monkeypatch.setattr(agents.common.rollout, "COMPACT_CACHE_RATIO", compact_ratio)
    monkeypatch.setattr(agents.common.rollout, "_compact_cache", lambda *a: compactions.append(1) or compact(*a))
    env = chat_env(16, max_new_tokens=18)
    steps, ended_at, step = [0], {}, env.step_tensors

    def recording_step(actions):
        result = step(actions)
        steps[0] += 1
        for row in np.flatnonzero(env.ended):
            ended_at.setdefault(int(row), steps[0])
        return result

    env.step_tensors = recording_step
    policy, buffer = _rollout(env)
    assert (len(compactions) > 0) == (compact_ratio == 1.0)
    P, N = env.task.max_prompt_tokens, env.task.max_new_tokens
    assert any(
        int(env.num_tokens[row]) == N and env.agent_mask[row, P + N - 1] == 1 and ended_at[row] < steps[0]
        for row in range(16)
    ), "the test needs a row whose own token filled the context while others went on"
    agent = env.agent_mask[:, P:] == 1
    inserted = (env.attention_mask[:, P:] == 1) & ~agent
    steps_with_insertions = {
        int(agent[row, : int(inserted[row].nonzero()[0])].sum()) for row in range(16) if inserted[row].any()
    }
    assert len(steps_with_insertions) > 1, "the test needs rows that insert tokens at different steps"
    assert len(set(inserted.sum(1).tolist())) > 1, "the test needs rows that insert different numbers of tokens"

    # The buffer holds the env's final observation after the prompt: the same tokens, attention and agent masks.
    T = int(env.num_tokens.max())
    assert torch.equal(buffer.response_ids, env.input_ids[:, P : P + T])
    assert torch.equal(buffer.response_attention_mask, env.attention_mask[:, P : P + T])
    assert torch.equal(buffer.response_mask, env.agent_mask[:, P : P + T].float())
    assert torch.equal(buffer.query_ids[buffer.query_mask == 1], env.input_ids[:, :P][env.attention_mask[:, :P] == 1])
    # A full forward of it gives the log-probs, values and reference log-probs the rollout computed through the KV
    # cache (with the blocks' padding holes) at the agent's tokens.
    with torch.no_grad():
        full, values = policy(env.input_ids, env.attention_mask, P, temperature=1.3, with_values=True)
    agent_in_buffer = buffer.response_mask == 1
    torch.testing.assert_close(buffer.logprobs[agent_in_buffer], full[agent], atol=1e-5, rtol=0)
    torch.testing.assert_close(buffer.ref_logprobs[agent_in_buffer], full[agent], atol=1e-5, rtol=0)
    torch.testing.assert_close(buffer.values[agent_in_buffer], values[agent], atol=1e-5, rtol=0)
    assert (buffer.logprobs[agent_in_buffer] != 0).all()
    # Env-written tokens and padding carry nothing.
    for tensor in (buffer.logprobs, buffer.ref_logprobs, buffer.values, buffer.rewards):
        assert (tensor[~agent_in_buffer] == 0).all()
    assert buffer.num_tokens == int(agent.sum())


def _turns(buffer, row):
    """The agent's turns of one episode from the buffer: lists of (column, token id), split at env-written tokens."""
    turns, current = [], []
    for column in (buffer.response_attention_mask[row] == 1).nonzero().flatten().tolist():
        if buffer.response_mask[row, column] == 1:
            current.append((column, int(buffer.response_ids[row, column])))
        elif current:
            turns.append(current)
            current = []
    return turns + ([current] if current else [])


def test_per_turn_rewards_sit_at_the_tokens_that_ended_the_turns():
    env = chat_env(16, conversation_reward=lambda conversations: [0.25 * len(c) for c in conversations])
    _, buffer = _rollout(env)
    special = set(TOKENIZER.all_special_ids)
    expected = torch.zeros_like(buffer.rewards)
    for row in range(16):
        turns = _turns(buffer, row)
        for turn in turns:
            text = TOKENIZER.decode([token for _, token in turn if token not in special])
            expected[row, turn[-1][0]] += float(positive_fraction([""], [text])[0])
        expected[row, turns[-1][-1][0]] += 0.25 * 2 * len(turns)  # the first message, then agent/user turns
    assert len({len(_turns(buffer, row)) for row in range(16)}) > 1
    assert (buffer.rewards != 0).sum() > 16, "the test needs per-turn rewards before the last token"
    torch.testing.assert_close(buffer.rewards, expected)
    torch.testing.assert_close(buffer.scores, buffer.rewards.sum(1))


def test_gae_runs_over_the_agent_tokens_only():
    # Row 0: agent tokens at columns 0, 1, 4 (2 and 3 were inserted by the env), per-turn reward 1 at column 1
    # and the final reward 2 at column 4. Row 1: a single-turn episode of 2 tokens, then padding.
    mask = torch.tensor([[1.0, 1, 0, 0, 1], [1, 1, 0, 0, 0]])
    rewards = torch.tensor([[0.0, 1, 9, 9, 2], [0, 3, 9, 9, 9]])  # 9: must be ignored (not a time step)
    values = torch.tensor([[0.5, 1.0, 7, 7, 1.5], [0.25, 0.75, 7, 7, 7]])
    gamma, lam = 0.9, 0.5
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    # Row 0 packed: r = (0, 1, 2), v = (0.5, 1.0, 1.5), terminal after the third.
    d2 = 2 - 1.5
    d1 = 1 + gamma * 1.5 - 1.0
    d0 = 0 + gamma * 1.0 - 0.5
    a2, a1 = d2, d1 + gamma * lam * d2
    a0 = d0 + gamma * lam * a1
    d1b = 3 - 0.75
    d0b = 0 + gamma * 0.75 - 0.25
    expected = torch.tensor([[a0, a1, 0, 0, a2], [d0b + gamma * lam * d1b, d1b, 0, 0, 0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, (expected + values) * mask)


def test_shaped_rewards_keep_per_turn_rewards_and_sum_to_the_shaped_score():
    agent = PPO(chat_model(), chat_env(16), seed=0, normalize_scores=True, missing_eos_penalty=1.0)
    buffer = agent.collect_rollouts()
    rewards = agent.shaped_rewards(buffer)
    std = np.sqrt(agent.score_stats.var + 1e-8)
    no_eos = torch.tensor([reason == "context_full" for reason in buffer.stop_reasons]).float()
    assert 0 < no_eos.sum() < 16
    shaped = (buffer.scores - no_eos - float(agent.score_stats.mean)) / float(std)
    torch.testing.assert_close(rewards.sum(1), shaped)
    # Every step's reward is scaled; the penalty and the mean come off the last agent token only.
    last = (torch.arange(rewards.shape[1]) * buffer.response_mask).argmax(1)
    earlier = torch.ones_like(rewards, dtype=torch.bool)
    earlier[torch.arange(16), last] = False
    assert (buffer.rewards[earlier] != 0).any()
    torch.testing.assert_close(rewards[earlier], buffer.rewards[earlier] / float(std))


class _RecordingPolicy(torch.nn.Module):
    """Wraps the training forward and keeps its outputs' gradients."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, input_ids, attention_mask, *args):
        logprobs, values = self.inner(input_ids, attention_mask, *args)
        for output in (logprobs, values):
            if output is not None:
                output.retain_grad()
        self.calls.append((input_ids, logprobs, values))
        return logprobs, values


@pytest.mark.parametrize(
    ("cls", "config"),
    [(PPO, {"n_epochs": 1}), (REINFORCE, {"baseline": "rloo", "group_size": 4}), (GRPO, {})],
)
def test_env_written_tokens_carry_no_loss_and_no_kl(cls, config):
    agent = cls(chat_model(), chat_env(8), seed=0, kl_coef=0.5, minibatch_size=8, **config)
    with torch.no_grad():
        agent.policy.model.transformer.ln_f.weight.mul_(3.0)  # the policy differs from its reference
    buffer = agent.collect_rollouts()
    env_written = (buffer.response_attention_mask == 1) & (buffer.response_mask == 0)
    agent_tokens = buffer.response_mask == 1
    assert env_written.any()
    seen = {}
    original_train = agent.train
    agent.train = lambda buffer, rewards, kl: seen.update(rewards=rewards, kl=kl) or original_train(buffer, rewards, kl)
    agent.model = _RecordingPolicy(agent.model)
    agent._update(buffer)
    assert (seen["kl"][~agent_tokens] == 0).all() and (seen["kl"][agent_tokens] != 0).any()
    assert (seen["rewards"][~agent_tokens] == 0).all()
    assert (buffer.ref_logprobs[~agent_tokens] == 0).all()
    sequences, _, _ = buffer.sequences()
    for input_ids, logprobs, values in agent.model.calls:
        for row, ids in enumerate(input_ids):
            source = int((sequences == ids).all(1).nonzero()[0])  # the buffer row this one is
            assert (logprobs.grad[row][env_written[source]] == 0).all()
            assert (logprobs.grad[row][agent_tokens[source]] != 0).any()
            if values is not None:
                assert (values.grad[row][env_written[source]] == 0).all()
                assert (values.grad[row][agent_tokens[source]] != 0).any()


def happy_user(conversations, fields):
    """Ends the conversation happily once the agent's last turn says "great"; asks "ok ?" otherwise."""
    return [None if "great" in c[-1]["content"].split() else "ok ?" for c in conversations]


def says_great(prompts, completions):
    """Per-turn reward: 1 for a turn that says "great"."""
    return np.array([float("great" in c.split()) for c in completions])


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (PPO, {"learning_rate": 3e-3, "n_epochs": 4, "minibatch_size": 8}),
        (REINFORCE, {"baseline": "rloo", "group_size": 4, "learning_rate": 1e-2, "minibatch_size": 16}),
    ],
)
def test_learns_a_scripted_chat_task_from_per_turn_rewards(cls, config):
    # Return 1 when some turn of up to 3 says "great" (the user then ends the conversation), else 0.
    agent = cls(chat_model(), chat_env(16, user=happy_user, reward_model=says_great), seed=0, kl_coef=0.01, **config)
    scores = []

    def record(locals_, globals_):
        scores.append(float(locals_["buffer"].scores.mean()))
        return len(scores) < 12

    agent.learn(10**6, progress_bar=False, callback=record)
    assert np.mean(scores[:2]) < 0.4, scores
    assert np.mean(scores[-3:]) > 0.8, scores


def test_agents_take_chat_env_ids_and_single_chat_envs():
    kwargs = {"tokenizer": TOKENIZER, "prompts": PROMPTS, "user": varied_user, "max_turns": 2, "max_turn_tokens": 3}
    kwargs.update(reward_model=positive_fraction, max_new_tokens=14, max_prompt_tokens=8)
    by_id = REINFORCE(chat_model(), "TextGenChat-v0", n_envs=4, env_kwargs=kwargs, baseline="rloo", group_size=2)
    single = PPO(chat_model(), TextGenChatEnv(**kwargs), n_envs=3)
    for agent, n in ((by_id, 4), (single, 3)):
        env = agent.env
        assert isinstance(env, TextGenChatVectorEnv) and env.num_envs == n
        assert env.metadata["autoreset_mode"] == AutoresetMode.DISABLED
        assert env.user is varied_user and env.max_turns == 2 and env.max_turn_tokens == 3
        buffer = agent.collect_rollouts()
        assert (buffer.response_attention_mask.sum(1) > buffer.response_mask.sum(1)).any()  # user turns inserted
        agent._update(buffer)


def test_compaction_keeps_the_rollout_cache_near_the_longest_conversation():
    reply = " ".join(["it was not so good"] * 6)  # 30 words: blocks of up to 34 tokens
    policy = LMPolicy(tiny_model(vocab_size=len(TOKENIZER), n_positions=256))
    longest = []
    step = policy.next_token_logprobs
    policy.next_token_logprobs = lambda ids, mask, *args: longest.append(mask.shape[1]) or step(ids, mask, *args)
    env = chat_env(16, user=fixed_user(reply), max_new_tokens=186, max_turns=4, max_turn_tokens=20)
    buffer = collect_rollout(policy, env, np.arange(16) % len(PROMPTS), torch.Generator().manual_seed(0))
    conversation = buffer.query_ids.shape[1] + int(env.num_tokens.max())
    assert conversation > 150 and max(longest) <= 2 * conversation + 34, (max(longest), conversation)


def test_evaluate_returns_the_conversations_of_a_chat_env():
    agent = PPO(chat_model(), chat_env(4), seed=0)
    result = evaluate(agent, chat_env(4), seed=0)
    assert len(result.conversations) == len(PROMPTS) == len(result.scores)
    for prompt, conversation in zip(result.prompts, result.conversations, strict=True):
        assert conversation[0] == {"role": "user", "content": prompt}
        roles = [message["role"] for message in conversation]
        assert roles[1::2] == ["assistant"] * len(roles[1::2]) and roles[::2] == ["user"] * len(roles[::2])
    single_turn = evaluate(REINFORCE(tiny_model(), tiny_env(4), seed=0), tiny_env(4), seed=0)
    assert single_turn.conversations == [None] * len(PROMPTS)


def test_a_static_rollout_cache_is_refused_on_an_env_that_inserts_tokens():
    policy = LMPolicy(chat_model(), rollout_cache="static")
    with pytest.raises(ValueError, match=r"rollout_cache='static' needs an env that writes only the agent's tokens"):
        collect_rollout(policy, chat_env(2), np.zeros(2, dtype=np.int64))


def test_the_training_forward_skips_the_columns_padded_in_every_row():
    env = chat_env(4, max_new_tokens=18)
    policy, buffer = _rollout(env)
    input_ids, attention_mask, start = buffer.sequences()
    input_ids = torch.nn.functional.pad(input_ids, (0, 5))  # 5 more columns of padding in every row
    attention_mask = torch.nn.functional.pad(attention_mask, (0, 5))
    shortest = int(attention_mask.sum(1).argmin())
    widths = []
    policy.backbone.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    for rows in (slice(None), slice(shortest, shortest + 1)):  # the batch, and a micro-batch of its shortest row
        ids, mask = input_ids[rows], attention_mask[rows]
        with torch.no_grad():
            logprobs, values = policy(ids, mask, start, temperature=1.3, with_values=True)
            untrimmed, untrimmed_values = policy._forward(ids, mask, start, 1.3, True, None)
        attended_width = int(mask.nonzero()[:, 1].max()) + 1
        assert widths[-2:] == [attended_width, ids.shape[1]] and attended_width < ids.shape[1]
        assert logprobs.shape == values.shape == untrimmed.shape == (ids.shape[0], ids.shape[1] - start)
        torch.testing.assert_close(logprobs, untrimmed, atol=1e-5, rtol=0)
        kept = attended_width - start
        torch.testing.assert_close(values[:, :kept], untrimmed_values[:, :kept], atol=1e-5, rtol=0)
        assert (values[:, kept:] == 0).all() and (logprobs[:, kept:] == 0).all()
