"""LoRA policies (peft): only adapters and value head train, the reference is the same weights with the adapters
off (no second copy), save / load / resume round-trip, a bfloat16 base with float32 adapters trains on CPU."""

import copy

import numpy as np
import pytest
import torch
from peft import LoraConfig
from tiny_lm import ScoreRecorder, tiny_env, tiny_model

from agents import PPO, REINFORCE, LMPolicy
from agents.common.checkpoint import list_checkpoints

LORA = {"lora_r": 4, "lora_alpha": 8.0}


def _trainable_names(agent):
    return {name for name, p in agent.policy.named_parameters() if p.requires_grad}


def _snapshot(agent):
    return {name: p.detach().clone() for name, p in agent.policy.named_parameters()}


@pytest.mark.parametrize("cls", [PPO, REINFORCE])
def test_only_adapters_and_value_head_change(cls):
    agent = cls(tiny_model(), tiny_env(8), seed=0, learning_rate=1e-2, **LORA)
    assert agent.policy.is_peft
    trainable = _trainable_names(agent)
    assert trainable and all("lora_" in n or n.startswith("value_head") for n in trainable), trainable
    assert any(n.startswith("value_head") for n in trainable) == (cls is PPO)
    before = _snapshot(agent)
    agent.learn(8 * 4 * 2, progress_bar=False)
    after = _snapshot(agent)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and changed <= trainable, changed - trainable
    assert any("lora_B" in n for n in changed)  # lora_B starts at 0: the adapters really moved


def test_peft_config_argument_and_lora_fields_are_exclusive():
    agent = PPO(
        tiny_model(), tiny_env(4), peft_config=LoraConfig(r=2, target_modules=["c_attn"], task_type="CAUSAL_LM")
    )
    names = _trainable_names(agent)
    assert any("c_attn.lora_A" in n for n in names) and not any("c_proj.lora" in n for n in names)
    with pytest.raises(ValueError, match="either peft_config or lora_r"):
        PPO(tiny_model(), tiny_env(4), peft_config=LoraConfig(r=2), lora_r=4)


def test_reference_is_the_base_model_exactly_and_shares_its_weights():
    base = tiny_model()
    pristine = LMPolicy(copy.deepcopy(base))
    agent = PPO(base, tiny_env(8), seed=0, learning_rate=1e-2, **LORA)
    agent.learn(8 * 4 * 2, progress_bar=False)
    buffer = agent.collect_rollouts()
    ids, mask, start = buffer.sequences()
    with torch.no_grad():
        expected, _ = pristine(ids, mask, start)
        policy_logprobs, _ = agent.policy(ids, mask, start)
    reference, _ = agent.ref_policy(ids, mask, start)
    assert torch.equal(reference, expected)
    assert torch.equal(buffer.ref_logprobs, expected)
    assert not torch.allclose(policy_logprobs, expected)  # the adapters did change the policy
    # No second copy of the base: the reference owns no tensors, and every base weight has one storage.
    assert agent.ref_policy.policy is agent.policy
    pointers = [p.data_ptr() for p in agent.policy.parameters()]
    assert len(pointers) == len(set(pointers))
    base_pointers = {
        p.data_ptr() for n, p in agent.policy.named_parameters() if "lora_" not in n and "value_head" not in n
    }
    assert base_pointers == {p.data_ptr() for n, p in base.named_parameters() if "lora_" not in n}
    full = PPO(tiny_model(), tiny_env(4))  # full fine-tuning keeps a separate frozen copy
    assert not {p.data_ptr() for p in full.ref_policy.parameters()} & {p.data_ptr() for p in full.policy.parameters()}


def test_lora_dropout_stays_as_configured_and_the_lm_dropout_is_off():
    agent = PPO(tiny_model(), tiny_env(4), lora_r=4, lora_dropout=0.25)
    dropouts = {n: m.p for n, m in agent.policy.named_modules() if isinstance(m, torch.nn.Dropout)}
    lora = {n: p for n, p in dropouts.items() if "lora_dropout" in n}
    assert lora and set(lora.values()) == {0.25}
    assert {p for n, p in dropouts.items() if n not in lora} == {0.0}


def test_save_load_and_merged_export(tmp_path):
    from transformers import AutoModelForCausalLM

    agent = PPO(tiny_model(), tiny_env(4), seed=0, learning_rate=1e-2, **LORA)
    agent.learn(4 * 4 * 2, progress_bar=False)
    agent.save(tmp_path / "agent")
    assert (tmp_path / "agent" / "adapter_config.json").is_file()
    assert (tmp_path / "agent" / "value_head.safetensors").is_file()
    assert not (tmp_path / "agent" / "model.safetensors").exists()  # adapters only, the base is referenced
    loaded = PPO.load(tmp_path / "agent", env=tiny_env(4))
    assert loaded.policy.is_peft and _trainable_names(loaded) == _trainable_names(agent)
    assert loaded.config == agent.config
    for name, value in agent.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[name], value), name
    obs, _ = agent.env.reset(options={"prompt_index": np.arange(4)})
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])

    agent.save(tmp_path / "merged", merge_adapters=True)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    ids = torch.as_tensor(obs["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, agent.policy.model(ids).logits, atol=1e-5, rtol=1e-5)
    assert agent.policy.is_peft  # exporting did not merge the training model


def test_resume_after_a_kill_reproduces_the_uninterrupted_lora_run(tmp_path):
    def make(folder):
        return PPO(tiny_model(), tiny_env(8), seed=0, learning_rate=1e-2, checkpoint_dir=str(folder), **LORA)

    total = 8 * 4 * 4
    full = make(tmp_path / "full")
    full.learn(total, progress_bar=False)
    killed = make(tmp_path / "killed")
    recorder = ScoreRecorder()

    def kill(locals_, globals_):
        recorder.scores.append(0)
        if len(recorder.scores) == 3:
            raise KeyboardInterrupt
        return True

    with pytest.raises(KeyboardInterrupt):
        killed.learn(total, callback=kill, progress_bar=False)
    assert list_checkpoints(tmp_path / "killed")
    resumed = make(tmp_path / "killed")
    resumed.learn(total, resume_from=tmp_path / "killed", progress_bar=False)
    assert resumed.n_updates == full.n_updates
    for name, value in full.policy.state_dict().items():
        assert torch.equal(resumed.policy.state_dict()[name], value), name


def test_bfloat16_base_with_float32_adapters_trains_on_cpu():
    agent = PPO(
        tiny_model(), tiny_env(4), seed=0, learning_rate=1e-2, weight_dtype="bfloat16", compute_dtype="bfloat16", **LORA
    )
    dtypes = {n: p.dtype for n, p in agent.policy.named_parameters()}
    assert {d for n, d in dtypes.items() if "lora_" in n or n.startswith("value_head")} == {torch.float32}
    assert {d for n, d in dtypes.items() if "lora_" not in n and not n.startswith("value_head")} == {torch.bfloat16}
    before = _snapshot(agent)
    agent.learn(4 * 4 * 2, progress_bar=False)
    after = _snapshot(agent)
    assert all(torch.isfinite(v.float()).all() for v in after.values())
    assert any(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n)


def test_weight_dtype_without_lora_is_refused():
    with pytest.raises(ValueError, match="weight_dtype='bfloat16' needs LoRA"):
        PPO(tiny_model(), tiny_env(4), weight_dtype="bfloat16")
