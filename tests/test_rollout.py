"""The shared rollout collector: KV-cached acting through the env matches a full forward of the same tokens."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from tiny_lm import PROMPTS, positive_fraction, tiny_env, tiny_model, tiny_tokenizer

from agents import PPO, REINFORCE, LMPolicy, collect_rollout
from text_gym import TextGenEnv, TextGenVectorEnv


def _rollout(temperature=0.7, num_envs=16, max_new_tokens=8, seed=0, **env_kwargs):
    torch.manual_seed(seed)
    policy = LMPolicy(tiny_model(seed=seed), value_head=True)
    reference = policy.reference_copy()
    env = tiny_env(num_envs, max_new_tokens=max_new_tokens, **env_kwargs)
    prompt_index = np.arange(num_envs) % len(PROMPTS)
    generator = torch.Generator().manual_seed(seed)
    buffer = collect_rollout(policy, env, prompt_index, generator, temperature, with_values=True, ref_policy=reference)
    return policy, env, buffer


def test_cached_rollout_logprobs_match_a_full_forward_at_the_sampling_temperature():
    policy, _env, buffer = _rollout(temperature=0.7)
    ids, mask, start = buffer.sequences()
    with torch.no_grad():
        full, _ = policy(ids, mask, start, temperature=0.7)
        other_temperature, _ = policy(ids, mask, start, temperature=1.0)
    m = buffer.response_mask
    assert torch.allclose(buffer.logprobs, full, atol=1e-5)
    assert torch.allclose(buffer.ref_logprobs, full, atol=1e-5)  # the reference is still the policy
    assert not torch.allclose(other_temperature * m, full, atol=1e-3)
    assert torch.equal(buffer.values, torch.zeros_like(buffer.values))  # zero-initialised value head


def test_episodes_that_end_at_different_steps_are_masked_and_scored():
    _, env, buffer = _rollout(temperature=1.5, max_new_tokens=8)
    lengths = buffer.response_mask.sum(1).long()
    assert lengths.min() < lengths.max(), "the test needs episodes of different lengths"
    assert torch.equal(lengths, env.num_tokens)
    assert buffer.num_tokens == int(lengths.sum())
    eos, pad = env.task.eos_token_ids[0], env.task.pad_token_id
    tokenizer = tiny_tokenizer()
    for row in range(env.num_envs):
        n = int(lengths[row])
        assert torch.equal(buffer.response_mask[row, :n], torch.ones(n))
        assert (buffer.response_ids[row, n:] == pad).all()
        assert (buffer.logprobs[row, n:] == 0).all()
        assert (buffer.response_ids[row, : n - 1] != eos).all()
        assert (buffer.response_ids[row, n - 1] == eos) == (buffer.stop_reasons[row] == "eos")
        text = tokenizer.decode(buffer.response_ids[row, :n].tolist(), skip_special_tokens=True)
        assert buffer.completions[row] == text
        assert buffer.prompts[row] == PROMPTS[buffer.prompt_index[row]]
    expected = positive_fraction(buffer.prompts, buffer.completions)
    assert np.allclose(buffer.scores.numpy(), expected, atol=1e-6)


def test_actions_beyond_the_env_action_space_are_never_sampled():
    vocab = len(tiny_tokenizer())
    agent = REINFORCE(tiny_model(vocab_size=64), tiny_env(16, vocab_size=vocab, max_new_tokens=8), seed=0)
    assert agent.policy.num_actions == vocab and agent.policy.vocab_size == 64
    with torch.no_grad():  # make the padded LM-head rows the most likely tokens
        agent.policy.model.lm_head.weight[vocab:] = agent.policy.model.lm_head.weight[:vocab].abs().sum(0) * 10
    buffer = agent.collect_rollouts()
    assert (buffer.response_ids < vocab).all()
    assert torch.isfinite(buffer.logprobs).all()


def test_group_sampling_gives_each_group_one_prompt():
    agent = REINFORCE(tiny_model(), tiny_env(12), baseline="rloo", group_size=4, seed=3)
    buffer = agent.collect_rollouts()
    groups = buffer.prompt_index.reshape(3, 4)
    assert (groups == groups[:, :1]).all()
    assert len({p for p in buffer.prompts[::4]}) >= 1 and buffer.prompts[0] == buffer.prompts[3]
    with pytest.raises(ValueError, match="multiple of group_size"):
        REINFORCE(tiny_model(), tiny_env(10), baseline="rloo", group_size=4).collect_rollouts()


def test_env_can_be_an_id_a_single_env_or_any_vector_env():
    tokenizer = tiny_tokenizer()
    kwargs = {
        "tokenizer": tokenizer,
        "reward_model": positive_fraction,
        "prompts": PROMPTS,
        "max_new_tokens": 3,
        "max_prompt_tokens": 5,
    }
    by_id = PPO(tiny_model(), "TextGen-v0", n_envs=4, env_kwargs=kwargs)
    assert isinstance(by_id.env, TextGenVectorEnv) and by_id.env.num_envs == 4
    assert by_id.env.single_action_space.n == by_id.policy.vocab_size
    single = PPO(tiny_model(), TextGenEnv(**kwargs), n_envs=3)
    assert single.env.num_envs == 3 and single.env.task.prompts == PROMPTS
    assert single.collect_rollouts().num_tokens <= 9
    # The README's gym.make_vec (NEXT_STEP autoreset) is rebuilt in DISABLED mode with the same task and size.
    made = gym.make_vec("TextGen-v0", num_envs=2, vocab_size=by_id.policy.vocab_size, **kwargs)
    assert made.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    agent = PPO(tiny_model(), made)
    assert agent.env.metadata["autoreset_mode"] == AutoresetMode.DISABLED and agent.env.num_envs == 2
    assert agent.env.task.prompts == PROMPTS and agent.env.task.max_new_tokens == 3
    assert agent.collect_rollouts().num_tokens <= 6


def test_predict_matches_the_full_forward_argmax():
    agent = PPO(tiny_model(), tiny_env(4), seed=0)
    obs, _ = agent.env.reset(options={"prompt_index": np.arange(4)})
    actions, state = agent.predict(obs, deterministic=True)
    assert state is None and actions.shape == (4,)
    for row in range(4):
        ids = obs["input_ids"][row][obs["attention_mask"][row] == 1]
        with torch.no_grad():
            logits = agent.policy.model(torch.as_tensor(ids)[None]).logits[0, -1]
        assert actions[row] == int(logits.argmax())
    single, _ = agent.predict({k: v[0] for k, v in obs.items()}, deterministic=True)
    assert single == actions[0]


def test_rollout_uses_the_supported_cache_api_without_deprecation_warnings():
    import warnings

    agent = PPO(tiny_model(), tiny_env(4), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent.collect_rollouts()


def test_single_turn_steps_build_no_block():
    """Per token the loop adds to the policy's forward and the env's step only sampling and recording (20 aten ops,
    views included): none of the block building of an env that inserts tokens (36 before it was skipped)."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    class OpCounter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.counting, self.ops = True, Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops[func.overloadpacket.__name__] += self.counting
            return func(*args, **(kwargs or {}))

    counter = OpCounter()

    def uncounted(method):
        def call(*args, **kwargs):
            counter.counting = False
            try:
                return method(*args, **kwargs)
            finally:
                counter.counting = True

        return call

    policy = LMPolicy(tiny_model(n_positions=64))
    policy.next_token_logprobs = uncounted(policy.next_token_logprobs)
    ops = {}
    for steps in (8, 24):
        env = tiny_env(4, max_new_tokens=steps, eos_token_ids=[])
        env.reset_tensors, env.step_tensors = uncounted(env.reset_tensors), uncounted(env.step_tensors)
        counter.ops.clear()
        with counter:
            collect_rollout(policy, env, np.arange(4), torch.Generator().manual_seed(0))
        ops[steps] = Counter(counter.ops)
    per_step = ops[24] - ops[8]
    assert not {"arange", "cumsum", "masked_fill", "clamp"} & set(per_step), per_step
    assert sum(per_step.values()) <= 20 * 16, per_step
