"""Prefix sharing (``share_prompt``): rows that hold the same prompt run it once, and everything computed from it (the
rollout's tokens and log-probs, reference log-probs, values, losses, gradients, whole GRPO / RLOO runs) is what every
row forwarding its own copy gives, to float32 rounding."""

import numpy as np
import pytest
import torch
from test_chat_agents import chat_env, chat_model
from tiny_lm import tiny_env, tiny_llama, tiny_model

from agents import GRPO, PPO, REINFORCE, LMPolicy, collect_rollout
from agents.common.policy import AdapterDisabledReference
from agents.common.prefix_sharing import shared_prompt_rows

ATOL = 1e-5


def _backbone_batches(policy: LMPolicy) -> list[tuple[int, int]]:
    """Record the ``[rows, positions]`` of every backbone forward of ``policy`` (the list fills as it runs)."""
    shapes: list[tuple[int, int]] = []
    policy.backbone.register_forward_hook(
        lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    return shapes


def _grouped_batch(vocab: int, groups: int = 3, group_size: int = 3, seed: int = 0):
    """Left-padded prompts of different lengths, ``group_size`` rows each, then responses that end at different
    lengths (padding after): ``(input_ids, attention_mask, response_start)`` of ``[groups x group_size, 5 + 6]``."""
    generator = torch.Generator().manual_seed(seed)
    prompt = torch.randint(3, vocab, (groups, 5), generator=generator)
    prompt_mask = torch.ones(groups, 5, dtype=torch.long)
    prompt_mask[0, :2] = 0
    prompt_mask[1, :1] = 0
    prompt = prompt.masked_fill(prompt_mask == 0, 0).repeat_interleave(group_size, 0)
    prompt_mask = prompt_mask.repeat_interleave(group_size, 0)
    rows = groups * group_size
    response = torch.randint(3, vocab, (rows, 6), generator=generator)
    lengths = torch.randint(1, 7, (rows,), generator=generator)
    response_mask = (torch.arange(6) < lengths[:, None]).long()
    response = response.masked_fill(response_mask == 0, 0)
    return torch.cat([prompt, response], 1), torch.cat([prompt_mask, response_mask], 1), 5


def _forward_and_gradients(policy: LMPolicy, share: bool, batch, with_values: bool):
    ids, mask, start = batch
    policy.share_prompt = share
    policy.zero_grad(set_to_none=True)
    policy.train()
    logprobs, values = policy(ids, mask, start, 0.7, with_values)
    weights = torch.linspace(-1, 1, logprobs.numel()).view_as(logprobs)  # a loss whose every position counts
    loss = (logprobs * weights).sum() + (values.pow(2).sum() if with_values else 0.0)
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in policy.named_parameters() if p.grad is not None}
    return logprobs.detach(), None if values is None else values.detach(), loss.detach(), gradients


def _assert_same(unshared, shared):
    for a, b in zip(unshared[:3], shared[:3], strict=True):
        if a is not None:
            torch.testing.assert_close(b, a, atol=ATOL, rtol=1e-5)
    assert unshared[3].keys() == shared[3].keys() and unshared[3]
    for name, grad in unshared[3].items():
        # gradients are summed over rows: compare relative to the largest entry of each tensor
        torch.testing.assert_close(shared[3][name], grad, atol=ATOL * max(1.0, float(grad.abs().max())), rtol=0)


def test_shared_prompt_rows_finds_each_distinct_prompt_and_its_rows():
    ids = torch.tensor([[0, 5, 6], [0, 5, 6], [7, 5, 6], [0, 5, 6], [7, 5, 6]])
    mask = torch.tensor([[0, 1, 1], [0, 1, 1], [1, 1, 1], [0, 1, 1], [1, 1, 1]])
    rows, inverse = shared_prompt_rows(ids, mask)
    assert torch.equal(ids[rows][inverse], ids) and torch.equal(mask[rows][inverse], mask)
    assert len(rows) == 2 and sorted(rows.tolist()) == [0, 2]  # the first row of each prompt
    mask_differs = mask.clone()
    mask_differs[1, 0] = 1  # the same ids, but one more attended token: another prompt
    assert len(shared_prompt_rows(ids, mask_differs)[0]) == 3
    assert shared_prompt_rows(ids[1:3], mask[1:3]) is None  # all distinct: nothing to share


@pytest.mark.parametrize("make_model", [tiny_model, tiny_llama], ids=["gpt2", "llama"])
@pytest.mark.parametrize("separate_critic", [False, True])
def test_forward_logprobs_values_loss_and_every_gradient_match_unshared(make_model, separate_critic):
    policy = LMPolicy(make_model(), value_head=True, separate_critic=separate_critic)
    torch.nn.init.normal_(policy.value_head.weight)
    batch = _grouped_batch(policy.vocab_size)
    shapes = _backbone_batches(policy)
    unshared = _forward_and_gradients(policy, False, batch, with_values=True)
    assert shapes == [(9, 11)]
    shapes.clear()
    shared = _forward_and_gradients(policy, True, batch, with_values=True)
    assert shapes == [(3, 5), (9, 6)]  # 3 prompts once, then the 9 responses on their cache
    _assert_same(unshared, shared)


def test_lora_policy_and_its_adapter_off_reference_match_unshared():
    from peft import LoraConfig

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    policy = LMPolicy.from_pretrained(tiny_llama(), peft_config=config)
    batch = _grouped_batch(policy.vocab_size)
    unshared = _forward_and_gradients(policy, False, batch, with_values=False)
    shared = _forward_and_gradients(policy, True, batch, with_values=False)
    assert all("lora" in name for name in shared[3])
    _assert_same(unshared, shared)
    reference = AdapterDisabledReference(policy)
    results = []
    for share in (False, True):
        policy.share_prompt = share
        results.append(reference(*batch, 0.7)[0])
    torch.testing.assert_close(results[1], results[0], atol=ATOL, rtol=1e-5)
    assert not torch.allclose(results[0], shared[0], atol=1e-3)  # the adapters were off


def test_gradient_checkpointing_in_training_falls_back_to_one_forward():
    policy = LMPolicy(tiny_llama())
    lm = policy.causal_lm
    (getattr(lm, "activation_checkpointing_enable", None) or lm.gradient_checkpointing_enable)({"use_reentrant": False})
    batch = _grouped_batch(policy.vocab_size)
    shapes = _backbone_batches(policy)
    unshared = _forward_and_gradients(policy, False, batch, with_values=False)
    shared = _forward_and_gradients(policy, True, batch, with_values=False)
    assert shapes == [(9, 11), (9, 11)]  # transformers drops the cache under checkpointing: nothing shared
    _assert_same(unshared, shared)
    shapes.clear()
    policy.eval()
    with torch.no_grad():  # no backward to replay: the reference-style forward still shares
        policy(*batch)
    assert shapes == [(3, 5), (9, 6)]


def _rollouts(make_env, model, prompt_index, **policy_kwargs):
    buffers, prefills = [], []
    for share in (False, True):
        torch.manual_seed(0)
        policy = LMPolicy(model(), value_head=True, share_prompt=share, **policy_kwargs)
        torch.nn.init.normal_(policy.value_head.weight)
        reference = policy.reference_copy()
        shapes = _backbone_batches(policy)
        generator = torch.Generator().manual_seed(0)
        buffers.append(collect_rollout(policy, make_env(), prompt_index, generator, 1.3, True, reference))
        prefills.append(shapes[0][0])  # the rows of the first forward: the prefill's
    return buffers, prefills


def _assert_same_rollout(unshared, shared):
    for name in ("query_ids", "query_mask", "response_ids", "response_attention_mask", "response_mask"):
        assert torch.equal(getattr(shared, name), getattr(unshared, name)), name
    for name in ("logprobs", "values", "ref_logprobs", "scores"):
        torch.testing.assert_close(getattr(shared, name), getattr(unshared, name), atol=ATOL, rtol=1e-5)
    assert shared.completions == unshared.completions


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "mask_top_k"])
def test_grouped_rollout_prefills_each_prompt_once_and_samples_the_same_episodes(masked):
    prompt_index = np.repeat([5, 0, 2, 5], 4)  # uneven prompt lengths; a prompt drawn by two groups
    env_kwargs = {"mask_top_k": 4, "mask_model": tiny_model(seed=5).eval()} if masked else {}
    (unshared, shared), prefills = _rollouts(
        lambda: tiny_env(16, max_new_tokens=6, **env_kwargs), tiny_model, prompt_index
    )
    assert prefills == [16, 3]
    lengths = shared.response_mask.sum(1)
    assert lengths.min() < lengths.max()  # episodes that end at different steps
    _assert_same_rollout(unshared, shared)
    assert (shared.action_mask is None) != masked
    if masked:  # the reference log-probs (compared above) are under these masks
        assert torch.equal(shared.action_mask, unshared.action_mask)


def test_chat_rollout_shares_the_first_prompt_only_and_matches_unshared():
    prompt_index = np.repeat([1, 3], 3)
    (unshared, shared), prefills = _rollouts(lambda: chat_env(6), chat_model, prompt_index)
    assert prefills == [6, 2]
    assert (shared.response_mask < shared.response_attention_mask.float()).any()  # the user's turns were inserted
    _assert_same_rollout(unshared, shared)


def test_static_rollout_cache_prefills_every_row():
    prompt_index = np.repeat([1, 3], 2)
    (unshared, shared), prefills = _rollouts(
        lambda: tiny_env(4, max_new_tokens=4), tiny_model, prompt_index, rollout_cache="static"
    )
    assert prefills == [4, 4]
    _assert_same_rollout(unshared, shared)


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (GRPO, {"num_iterations": 2, "minibatch_size": 8}),  # minibatches holding parts of groups
        (REINFORCE, {"baseline": "rloo", "minibatch_size": 16}),
        (PPO, {"minibatch_size": 4}),  # group_size 1: prompts drawn twice share
    ],
)
def test_learn_runs_match_unshared(cls, config):
    runs = []
    for share in (False, True):
        agent = cls(tiny_model(), tiny_env(16), seed=0, kl_coef=0.05, learning_rate=1e-3, share_prompt=share, **config)
        assert agent.policy.share_prompt is share and agent.ref_policy.share_prompt is share
        before = {name: p.detach().clone() for name, p in agent.policy.named_parameters()}
        agent.learn(16 * 4 * 2, progress_bar=False)
        runs.append(agent)
    assert runs[0].n_updates == runs[1].n_updates >= 2
    unshared, shared = (dict(agent.policy.named_parameters()) for agent in runs)
    assert any(not torch.equal(p, before[name]) for name, p in shared.items())
    for name, value in unshared.items():
        torch.testing.assert_close(shared[name], value, atol=ATOL, rtol=1e-4, msg=name)


def test_share_prompt_field_is_a_bool_switch_on_by_default():
    from agents import GRPOConfig

    assert GRPOConfig().share_prompt is True and GRPOConfig(share_prompt=False).share_prompt is False
    assert LMPolicy(tiny_model()).share_prompt is True
    policy = LMPolicy(tiny_model())
    distinct = _grouped_batch(policy.vocab_size, groups=3, group_size=1)
    shapes = _backbone_batches(policy)
    with torch.no_grad():
        policy(*distinct)
    attended = int(distinct[1].sum(0).nonzero().max()) + 1  # trailing all-padding columns are not forwarded
    assert shapes == [(3, attended)]  # no repeated prompt: one forward, as without sharing


def test_bench_prefix_times_both_sides_of_each_prompt_length(tiny_policy_dir, capsys):
    from scripts.bench.prefix import BenchPrefixConfig, run_benchmark

    config = BenchPrefixConfig(tiny_policy_dir, prompts=2, group_size=3, prompt_tokens=[4, 8], new_tokens=3, repeats=1)
    rows = run_benchmark(config)
    assert [(row["prompt_tokens"], row["rows"]) for row in rows] == [(4, 6), (8, 6)]
    for row in rows:
        for phase in ("reference", "update"):
            assert row[f"{phase}_s"] > 0 and row[f"{phase}_shared_s"] > 0
            assert row[f"{phase}_ratio"] == pytest.approx(row[f"{phase}_shared_s"] / row[f"{phase}_s"])
    assert capsys.readouterr().out.count("| 6 |") == 2
