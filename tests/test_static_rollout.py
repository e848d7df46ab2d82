"""The static-cache rollout path (agents/common/static_decode.py) samples exactly what the dynamic-cache path
samples, and an update trained on it is the same update."""

import numpy as np
import pytest
import torch
from tiny_lm import PROMPTS, tiny_env, tiny_llama, tiny_model

from agents import GRPO, PPO, LMPolicy, collect_rollout

MODELS = {"gpt2": tiny_model, "llama": tiny_llama}


def _rollouts(make_model, rollout_cache, prompt_sets, temperature=0.7):
    """One rollout per prompt set (same weights, the same generator seed each), reusing one policy and env."""
    policy = LMPolicy(make_model(), value_head=True, rollout_cache=rollout_cache).eval()
    env = tiny_env(len(prompt_sets[0]), max_new_tokens=8, eos_token_ids=[])
    buffers = []
    for prompt_index in prompt_sets:
        generator = torch.Generator().manual_seed(0)
        buffers.append(collect_rollout(policy, env, np.asarray(prompt_index), generator, temperature, True))
    return buffers


# Left-padded prompts of 3 and 4 words together, then only 3-word ones (the rollout trims the columns padded in every
# row, so the static cache, sized for the longest prompt, is longer than this rollout needs).
PROMPT_SETS = [[0, 1, 2, 3, 4, 5], [1, 3, 4, 1, 3, 4]]


@pytest.mark.parametrize("model", MODELS)
def test_static_cache_samples_the_same_tokens_and_logprobs_as_the_dynamic_cache(model):
    assert {len(PROMPTS[i].split()) for i in PROMPT_SETS[0]} == {3, 4}
    dynamic = _rollouts(MODELS[model], "dynamic", PROMPT_SETS)
    static = _rollouts(MODELS[model], "static", PROMPT_SETS)
    assert dynamic[0].query_ids.shape[1] > dynamic[1].query_ids.shape[1]  # the second set is trimmed
    for d, s in zip(dynamic, static, strict=True):
        assert torch.equal(d.response_ids, s.response_ids)
        assert torch.allclose(d.logprobs, s.logprobs, atol=1e-5)
        assert torch.allclose(d.values, s.values, atol=1e-5)
        assert d.completions == s.completions
    assert not torch.equal(dynamic[0].response_ids, dynamic[1].response_ids)


@pytest.mark.parametrize("model", MODELS)
def test_compiled_decode_step_is_one_graph_for_every_rollout_and_samples_the_same(model, monkeypatch):
    """The decode step is captured once (one graph, no graph break) and replayed in both rollouts, whose prompt
    widths differ; the compiled rollouts sample exactly what the eager ones do.

    The graph runs through AOTAutograd's eager backend: what CUDA graphs replay on a GPU is this captured graph
    (the in-place cache writes included); inductor's CPU code generation would add ~30-50 s of C++ compilation
    per test on this machine (run by hand: same tokens, log-probs within 3e-7)."""
    from torch._dynamo.testing import CompileCounterWithBackend

    import agents.common.static_decode

    counter = CompileCounterWithBackend("aot_eager")
    monkeypatch.setattr(
        agents.common.static_decode, "compile_options", lambda device: {"backend": counter, "dynamic": False}
    )
    torch._dynamo.reset()
    dynamic = _rollouts(MODELS[model], "dynamic", PROMPT_SETS)
    compiled = _rollouts(MODELS[model], "static-compiled", PROMPT_SETS)
    assert counter.frame_count == 1
    for d, c in zip(dynamic, compiled, strict=True):
        assert torch.equal(d.response_ids, c.response_ids)
        assert torch.allclose(d.logprobs, c.logprobs, atol=1e-5)
        assert torch.allclose(d.values, c.values, atol=1e-5)


def test_compiled_lora_rollouts_reuse_one_graph_across_an_update(monkeypatch):
    """A LoRA agent's compiled decode step survives the update between rollouts (train mode, optimizer step, eval
    mode again) without recompiling, and samples what the dynamic-cache agent samples before and after it."""
    from torch._dynamo.testing import CompileCounterWithBackend

    import agents.common.static_decode

    counter = CompileCounterWithBackend("aot_eager")
    monkeypatch.setattr(
        agents.common.static_decode, "compile_options", lambda device: {"backend": counter, "dynamic": False}
    )
    torch._dynamo.reset()
    buffers = {}
    for rollout_cache in ("dynamic", "static-compiled"):
        env = tiny_env(8, max_new_tokens=6, eos_token_ids=[])
        agent = PPO(tiny_llama(), env, seed=0, lora_r=4, learning_rate=1e-2, rollout_cache=rollout_cache)
        before = agent.collect_rollouts()
        agent.learn(8 * 6, progress_bar=False)
        buffers[rollout_cache] = (before, agent.collect_rollouts())
    assert counter.frame_count == 1
    for dynamic, compiled in zip(buffers["dynamic"], buffers["static-compiled"], strict=True):
        assert torch.equal(dynamic.response_ids, compiled.response_ids)
        assert torch.allclose(dynamic.logprobs, compiled.logprobs, atol=1e-5)


def test_static_cache_is_reused_between_rollouts_and_rebuilt_for_another_batch():
    policy = LMPolicy(tiny_llama(), rollout_cache="static")
    first = policy.new_rollout_cache(4, 13)
    assert policy.new_rollout_cache(4, 13) is first
    assert policy.new_rollout_cache(6, 13) is not first
    with pytest.raises(ValueError, match="more than the static cache holds"):
        policy.next_token_logprobs(
            torch.zeros(6, 14, dtype=torch.long),
            torch.ones(6, 14, dtype=torch.long),
            torch.arange(14).expand(6, 14),
            policy.new_rollout_cache(6, 13),
        )


@pytest.mark.parametrize(("cls", "config"), [(PPO, {"n_epochs": 2}), (GRPO, {})])
def test_an_update_on_the_static_path_equals_the_update_on_the_dynamic_path(cls, config):
    weights = {}
    for rollout_cache in ("dynamic", "static"):
        agent = cls(
            tiny_llama(),
            tiny_env(8, max_new_tokens=6, eos_token_ids=[]),
            seed=0,
            learning_rate=1e-2,
            minibatch_size=4,
            rollout_cache=rollout_cache,
            **config,
        )
        agent.learn(8 * 6, progress_bar=False)
        assert agent.num_timesteps == 8 * 6  # one rollout, one update
        weights[rollout_cache] = [p.detach().clone() for p in agent.policy.parameters()]
    initial = [p.detach() for p in LMPolicy(tiny_llama()).parameters()]
    assert any(not torch.allclose(a, b) for a, b in zip(weights["dynamic"], initial, strict=False))  # it moved
    for dynamic, static in zip(weights["dynamic"], weights["static"], strict=True):
        assert torch.allclose(dynamic, static, atol=1e-5)  # Adam steps of 1e-2 move weights by ~1e-2


def test_a_model_type_without_static_cache_support_is_refused_by_name():
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    model = GPTNeoForCausalLM(
        GPTNeoConfig(vocab_size=21, hidden_size=32, num_layers=2, num_heads=2, attention_types=[[["global"], 2]])
    )
    with pytest.raises(ValueError, match=r"rollout_cache='static'.*model type 'gpt_neo' \(GPTNeoForCausalLM\)"):
        LMPolicy(model, rollout_cache="static")
    with pytest.raises(ValueError, match="rollout_cache must be one of"):
        LMPolicy(tiny_model(), rollout_cache="paged")
    with pytest.raises(ValueError, match="rollout_cache must be one of"):
        PPO(tiny_model(), tiny_env(4), rollout_cache="paged")
    LMPolicy(model, rollout_cache="dynamic")  # the dynamic cache works for every model


def test_sliding_window_layers_shorter_than_an_episode_are_refused():
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(
        vocab_size=21,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=4,
    )
    policy = LMPolicy(MistralForCausalLM(config), rollout_cache="static")
    with pytest.raises(ValueError, match=r"'mistral' has sliding-window layers of 4 positions.*max_length=13"):
        policy.new_rollout_cache(2, 13)
    assert policy.new_rollout_cache(2, 4).layers[0].max_cache_len == 4  # a window as long as the episode is fine
