"""The merged-LoRA rollout (agents/common/merged_adapters.py): the adapters merged into the base weights give the
unmerged log-probs to float32 rounding, the base weights come back bit for bit after any number of merge / update /
restore cycles (float32 and bfloat16, where peft's subtracting unmerge drifts), the reference and the update see the
unmerged model, and the agents and ``evaluate_lm`` sample merged by default."""

import copy

import numpy as np
import pytest
import torch
from peft import LoraConfig
from tiny_lm import tiny_env, tiny_llama, tiny_model

from agents import GRPO, PPO, AdapterDisabledReference, LMPolicy, evaluate_lm
from agents.common.merged_adapters import adapters_merged, merge_adapters, merged_adapters, restore_adapters
from agents.common.policy import position_ids_from_mask


def _lora_policy(model=None, dtype=torch.float32, seed=1) -> LMPolicy:
    policy = LMPolicy.from_pretrained(
        model if model is not None else tiny_llama(),
        dtype=dtype,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # nonzero adapters (lora_B starts at 0), as after some training
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=generator))
    return policy.eval()


def _base_weights(policy: LMPolicy) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" not in n}


def _assert_equal_weights(policy: LMPolicy, expected: dict[str, torch.Tensor]) -> None:
    for name, value in _base_weights(policy).items():
        assert torch.equal(value, expected[name]), name


def _batch():
    ids = torch.tensor([[0, 0, 5, 6, 7, 8, 9], [3, 4, 5, 6, 7, 8, 9]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]])
    return ids, mask


@pytest.mark.parametrize("make_model", [tiny_llama, tiny_model], ids=["llama", "gpt2-conv1d"])
def test_merged_logprobs_match_the_unmerged_ones_in_float32(make_model):
    policy = _lora_policy(make_model())
    ids, mask = _batch()
    positions = position_ids_from_mask(mask)
    with torch.no_grad():
        step, _, _ = policy.next_token_logprobs(ids, mask, positions, None)
        full, _ = policy(ids, mask, 4)
        without_adapters, _ = AdapterDisabledReference(policy)(ids, mask, 4)
    before = _base_weights(policy)
    with merged_adapters(policy) as merged:
        assert merged and adapters_merged(policy)
        changed = [n for n, v in _base_weights(policy).items() if not torch.equal(v, before[n])]
        assert changed  # the update really is in the base weights
        with torch.no_grad():
            merged_step, _, _ = policy.next_token_logprobs(ids, mask, positions, None)
            merged_full, _ = policy(ids, mask, 4)
    assert not adapters_merged(policy)
    _assert_equal_weights(policy, before)
    assert not torch.allclose(full, without_adapters, atol=1e-3)  # the adapters matter
    torch.testing.assert_close(merged_step, step, atol=2e-6, rtol=0)
    torch.testing.assert_close(merged_full, full, atol=2e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_base_weights_come_back_bit_for_bit_over_many_update_cycles(dtype):
    """50 rollouts (merge, restore) with the adapters changing between them, as training does: no drift. peft's
    own unmerge (subtracting the update again) drifts, which is why the base is copied instead."""
    policy = _lora_policy(dtype=dtype)
    peft_only = copy.deepcopy(policy)
    original = _base_weights(policy)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        with merged_adapters(policy):
            pass
        peft_only.model.merge_adapter()
        peft_only.model.unmerge_adapter()
        with torch.no_grad():  # an "update" of the adapters
            noise = {n: 0.05 * torch.randn(p.shape, generator=generator) for n, p in policy.named_parameters()}
            for model in (policy, peft_only):
                for name, p in model.named_parameters():
                    if "lora_" in name:
                        p.add_(noise[name])
    _assert_equal_weights(policy, original)
    drift = max(float((v.float() - original[n].float()).abs().max()) for n, v in _base_weights(peft_only).items())
    assert drift > 0


def test_an_exception_inside_the_block_restores_the_base():
    policy = _lora_policy()
    before = _base_weights(policy)
    with pytest.raises(RuntimeError, match="boom"), merged_adapters(policy):
        raise RuntimeError("boom")
    assert not adapters_merged(policy)
    _assert_equal_weights(policy, before)


def test_the_reference_inside_a_merged_block_sees_the_bare_base():
    policy = _lora_policy()
    reference = AdapterDisabledReference(policy)
    ids, mask = _batch()
    expected, _ = reference(ids, mask, 4)
    before = _base_weights(policy)
    with merged_adapters(policy):
        inside, _ = reference(ids, mask, 4)  # restores the base first (exactly)
        assert not adapters_merged(policy)
    assert torch.equal(inside, expected)
    _assert_equal_weights(policy, before)


def test_full_fine_tuning_has_nothing_to_merge():
    policy = LMPolicy(tiny_model())
    with merged_adapters(policy) as merged:
        assert not merged
    with pytest.raises(ValueError, match="needs a LoRA policy"):
        merge_adapters(policy)
    lora = _lora_policy()
    merge_adapters(lora)
    with pytest.raises(ValueError, match="already merged"):
        merge_adapters(lora)
    restore_adapters(lora)
    restore_adapters(lora)  # a second restore is a no-op


def _merged_while_sampling(agent) -> list[bool]:
    """Patch ``agent.policy.next_token_logprobs`` to record whether the adapters were merged at each call."""
    seen, original = [], agent.policy.next_token_logprobs

    def spy(*args, **kwargs):
        seen.append(adapters_merged(agent.policy))
        return original(*args, **kwargs)

    agent.policy.next_token_logprobs = spy
    return seen


def test_agents_sample_merged_by_default_and_train_as_unmerged():
    runs = {}
    for merge in (True, False):
        agent = GRPO(
            tiny_model(), tiny_env(8), seed=0, learning_rate=1e-2, lora_r=4, lora_alpha=8.0, group_size=4,
            merge_lora_for_rollout=merge,
        )  # fmt: skip
        base = _base_weights(agent.policy)
        seen = _merged_while_sampling(agent)
        buffer = agent.collect_rollouts()
        assert seen and set(seen) == {merge}
        agent.learn(8 * 4 * 3, progress_bar=False)
        _assert_equal_weights(agent.policy, base)  # the frozen base is untouched, merged rollouts or not
        assert not adapters_merged(agent.policy)
        runs[merge] = (buffer, {n: p.detach().clone() for n, p in agent.policy.named_parameters() if "lora_" in n})
    (merged, merged_adapters_after), (plain, plain_adapters_after) = runs[True], runs[False]
    assert torch.equal(merged.response_ids, plain.response_ids)
    torch.testing.assert_close(merged.logprobs, plain.logprobs, atol=2e-6, rtol=0)
    assert torch.equal(merged.ref_logprobs, plain.ref_logprobs)  # the reference ran on the restored base
    assert any(not torch.equal(v, 0 * v) for n, v in merged_adapters_after.items() if "lora_B" in n)  # it trained
    for name, value in merged_adapters_after.items():
        torch.testing.assert_close(value, plain_adapters_after[name], atol=1e-5, rtol=1e-4)


def test_evaluate_lm_samples_merged_with_the_same_completions():
    policy = _lora_policy(tiny_model())
    before = _base_weights(policy)
    results = [evaluate_lm(policy, tiny_env(4), seed=3, merge_adapters=merge) for merge in (True, False)]
    assert results[0].completions == results[1].completions
    np.testing.assert_allclose(results[0].scores, results[1].scores)
    _assert_equal_weights(policy, before)


def test_ppo_values_of_a_merged_rollout_match_the_update_forward():
    agent = PPO(tiny_model(), tiny_env(4), seed=0, lora_r=4, lora_alpha=8.0)
    with torch.no_grad():
        agent.policy.value_head.weight.normal_()
    buffer = agent.collect_rollouts()
    ids, mask, start = buffer.sequences()
    with torch.no_grad():
        logprobs, values = agent.policy(ids, mask, start, with_values=True)
    torch.testing.assert_close(buffer.logprobs, logprobs * buffer.response_mask, atol=2e-6, rtol=0)
    torch.testing.assert_close(buffer.values, values * buffer.response_mask, atol=2e-6, rtol=0)
