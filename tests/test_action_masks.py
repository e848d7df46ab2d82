"""Our agents honour the env's action masks (allowed_tokens, mask_top_k with mask_model): the rollout samples only
allowed tokens, its log-probs (policy and reference) are the masked distribution's, the update trains under the
same masks, predict emits only allowed tokens, and an unrestricted env makes no mask at all."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from tiny_chat import tiny_chat_tokenizer
from tiny_lm import PROMPTS, positive_fraction, tiny_env, tiny_model, tiny_tokenizer

from agents import GRPO, PPO, REINFORCE, AdapterDisabledReference, LMPolicy, collect_rollout
from agents.common.action_masks import (
    RolloutMasks,
    allowed_ids,
    check_action_masks,
    mask_logprobs,
    mask_positions,
    mask_rows,
    masked_token_logprobs,
)

V = len(tiny_tokenizer())  # 21: <pad>, <unk>, <eos>, then 18 words
ALLOWED = [2, 3, 6, 9, 14]  # <eos>, good, bad, the, day
TOP_K = 3
ENV_KWARGS = {
    "tokenizer": tiny_tokenizer(),
    "reward_model": positive_fraction,
    "prompts": PROMPTS,
    "max_new_tokens": 4,
    "max_prompt_tokens": 5,
}


# ------------------------------------------------------------------ the masking functions, by hand
def test_mask_logprobs_renormalises_over_the_allowed_ids_and_excludes_ids_beyond_the_mask():
    logprobs = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]]).log()  # W = 4 LM-head rows
    fixed = mask_logprobs(logprobs, torch.tensor([True, False, True]))  # V = 3: id 3 is beyond the action space
    expected = torch.tensor([0.25, 0.0, 0.75, 0.0]).log()
    assert torch.allclose(fixed, expected.expand(2, -1))
    per_row = mask_logprobs(logprobs, torch.tensor([[True, False, True], [False, True, False]]))
    assert torch.allclose(per_row[0], expected)
    assert torch.allclose(per_row[1], torch.tensor([0.0, 1.0, 0.0, 0.0]).log())


def test_allowed_ids_of_a_top_k_mask():
    mask = torch.tensor([[True, False, True, False], [False, True, True, False]])
    ids = allowed_ids(mask, 2)
    assert ids.dtype == torch.long and ids.shape == (2, 2)
    assert [sorted(row) for row in ids.tolist()] == [[0, 2], [1, 2]]


def test_masked_token_logprobs_by_hand():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0]]).log()  # softmax: 0.1, 0.2, 0.3, 0.4
    fixed = torch.tensor([False, True, True, False])
    assert torch.allclose(masked_token_logprobs(logits, torch.tensor([2]), fixed), torch.tensor([math.log(3 / 5)]))
    ids = torch.tensor([[1, 3]])
    assert torch.allclose(masked_token_logprobs(logits, torch.tensor([3]), ids), torch.tensor([math.log(4 / 6)]))
    # A token outside the mask (an env-inserted token, padding) gets a finite value, never -inf.
    assert torch.allclose(masked_token_logprobs(logits, torch.tensor([0]), ids), torch.tensor([math.log(1 / 6)]))


def test_minibatch_rows_and_chunk_positions_of_a_stored_mask():
    fixed = torch.tensor([True, False, True])
    assert mask_rows(fixed, torch.tensor([1])) is fixed and mask_positions(fixed, 2, 5) is fixed
    assert mask_rows(None, torch.tensor([0])) is None
    ids = torch.arange(2 * 3 * 2).view(2, 3, 2)  # [B=2, T=3, k=2]
    assert torch.equal(mask_rows(ids, torch.tensor([1])), ids[1:])
    assert torch.equal(mask_positions(ids, 2, 5), torch.tensor([[4, 5], [6, 7], [8, 9]]))


def test_check_action_masks_refuses_bad_masks():
    assert torch.equal(check_action_masks([True, False], 3, 4, torch.device("cpu")), torch.tensor([True, False]))
    rows = torch.tensor([[True, False], [False, True]])
    assert torch.equal(check_action_masks(rows, 2, 4, torch.device("cpu")), rows)
    with pytest.raises(ValueError, match=r"bool array \[V\] or \[2, V\] with V <= 4"):
        check_action_masks(np.ones(4, dtype=int), 2, 4, torch.device("cpu"))
    with pytest.raises(ValueError, match="V <= 4"):
        check_action_masks(np.ones(5, dtype=bool), 2, 4, torch.device("cpu"))
    with pytest.raises(ValueError, match="3 rows for 2 observations"):
        check_action_masks(np.ones((3, 4), dtype=bool), 2, 4, torch.device("cpu"))
    with pytest.raises(ValueError, match="allows no token"):
        check_action_masks(np.array([[True, False], [False, False]]), 2, 4, torch.device("cpu"))


# ------------------------------------------------------------------ rollouts
def _unpadded_logits(model, buffer, row: int) -> tuple[torch.Tensor, int]:
    """Independent check: the row's attended tokens alone through the bare LM; returns its logits ``[S, W]`` and the
    prompt length (the logits of response position ``t`` are at ``prompt_length + t - 1``)."""
    ids, attention, _ = buffer.sequences()
    real = ids[row][attention[row] == 1]
    with torch.no_grad():
        logits = model(real[None]).logits[0].float()
    return logits, int(buffer.query_mask[row].sum())


def _full_forward_logprobs(model, buffer, temperature, allowed) -> torch.Tensor:
    """``[B, T]`` log-probs of the agent's tokens under ``allowed(row, t)`` (bool ``[V]``, ``V`` the env's actions),
    from unpadded forwards."""
    out = torch.zeros_like(buffer.logprobs)
    for row in range(buffer.batch_size):
        logits, prompt_length = _unpadded_logits(model, buffer, row)
        for t in np.flatnonzero(buffer.response_mask[row].numpy()):
            mask = allowed(row, t)
            z = logits[prompt_length + t - 1, : len(mask)] / temperature
            z = z.masked_fill(~mask, float("-inf"))
            out[row, t] = torch.log_softmax(z, -1)[buffer.response_ids[row, t]]
    return out


def _ids_to_bool(ids: torch.Tensor) -> torch.Tensor:
    return torch.zeros(*ids.shape[:-1], V, dtype=torch.bool).scatter_(-1, ids, True)


def _agent_tokens(buffer) -> torch.Tensor:
    return buffer.response_ids[buffer.response_mask > 0]


def test_allowed_tokens_rollout_samples_only_allowed_tokens_and_its_logprobs_are_the_masked_ones():
    policy = LMPolicy(tiny_model(vocab_size=64), value_head=True, num_actions=V)  # LM head larger than the env
    with torch.no_grad():  # the LM-head rows beyond the action space would be the most likely tokens
        policy.model.lm_head.weight[V:] = policy.model.lm_head.weight[:V].abs().sum(0) * 10
    reference = LMPolicy(tiny_model(vocab_size=64, seed=1), num_actions=V)
    env = tiny_env(16, max_new_tokens=6, vocab_size=V, allowed_tokens=ALLOWED)
    generator = torch.Generator().manual_seed(0)
    buffer = collect_rollout(policy, env, np.arange(16) % len(PROMPTS), generator, 0.7, True, reference)
    allowed = torch.zeros(V, dtype=torch.bool)
    allowed[ALLOWED] = True
    assert buffer.action_mask.dtype == torch.bool and torch.equal(buffer.action_mask, allowed)  # one [V] mask
    tokens = _agent_tokens(buffer)
    assert len(tokens) > 16 and set(tokens.tolist()) <= set(ALLOWED)
    m = buffer.response_mask
    expected = _full_forward_logprobs(policy.model, buffer, 0.7, lambda row, t: allowed)
    assert torch.allclose(buffer.logprobs, expected, atol=1e-5)
    expected_ref = _full_forward_logprobs(reference.model, buffer, 0.7, lambda row, t: allowed)
    assert torch.allclose(buffer.ref_logprobs, expected_ref, atol=1e-5)
    assert not torch.allclose(buffer.logprobs, buffer.ref_logprobs, atol=1e-3)  # two different models
    unmasked = _full_forward_logprobs(policy.model, buffer, 0.7, lambda row, t: torch.ones(V, dtype=torch.bool))
    assert ((unmasked - expected).abs() * m).max() > 0.1  # the mask matters
    # The training forward under the stored mask gives the rollout's log-probs (ratio 1 before an update).
    ids, attention, start = buffer.sequences()
    with torch.no_grad():
        trained, _ = policy(ids, attention, start, 0.7, action_mask=buffer.action_mask)
    assert torch.allclose(trained * m, buffer.logprobs, atol=1e-5)


def test_top_k_rollout_samples_within_each_steps_mask_and_stores_the_mask_models_top_k():
    mask_model = tiny_model(seed=5).eval()
    policy = LMPolicy(tiny_model(), value_head=True)
    reference = LMPolicy(tiny_model(seed=1))
    env = tiny_env(8, max_new_tokens=5, mask_top_k=TOP_K, mask_model=mask_model)
    generator = torch.Generator().manual_seed(0)
    buffer = collect_rollout(policy, env, np.arange(8) % len(PROMPTS), generator, 1.0, False, reference)
    T = buffer.response_ids.shape[1]
    assert buffer.action_mask.dtype == torch.long and buffer.action_mask.shape == (8, T, TOP_K)
    masks = _ids_to_bool(buffer.action_mask)  # [B, T, V]
    for row in range(8):
        logits, prompt_length = _unpadded_logits(mask_model, buffer, row)
        for t in np.flatnonzero(buffer.response_mask[row].numpy()):
            expected = set(logits[prompt_length + t - 1].topk(TOP_K).indices.tolist())
            assert set(buffer.action_mask[row, t].tolist()) == expected, (row, t)
            assert masks[row, t, buffer.response_ids[row, t]]  # the sampled token is allowed at its step
    expected = _full_forward_logprobs(policy.model, buffer, 1.0, lambda row, t: masks[row, t])
    assert torch.allclose(buffer.logprobs, expected, atol=1e-5)
    expected_ref = _full_forward_logprobs(reference.model, buffer, 1.0, lambda row, t: masks[row, t])
    assert torch.allclose(buffer.ref_logprobs, expected_ref, atol=1e-5)
    ids, attention, start = buffer.sequences()
    with torch.no_grad():  # a small chunk size: the per-position ids are split across chunks
        policy.logprob_chunk_size = 3
        trained, _ = policy(ids, attention, start, 1.0, action_mask=buffer.action_mask)
    assert torch.allclose(trained * buffer.response_mask, buffer.logprobs, atol=1e-5)


def test_static_cache_rollout_under_a_mask_samples_what_the_dynamic_one_does():
    buffers = []
    for cache in ("dynamic", "static"):
        policy = LMPolicy(tiny_model(), rollout_cache=cache).eval()
        env = tiny_env(6, max_new_tokens=5, mask_top_k=TOP_K, mask_model=tiny_model(seed=5).eval())
        buffers.append(collect_rollout(policy, env, np.arange(6), torch.Generator().manual_seed(0), 0.8))
    dynamic, static = buffers
    assert torch.equal(dynamic.response_ids, static.response_ids)
    assert torch.equal(dynamic.action_mask.sort(-1).values, static.action_mask.sort(-1).values)
    assert torch.allclose(dynamic.logprobs, static.logprobs, atol=1e-5)


def test_chat_env_rollout_under_allowed_tokens():
    """Env-inserted tokens (the user's turns) are outside the mask; only the agent's tokens are sampled under it,
    and the log-probs of the compact conversation match an unpadded forward under the mask."""
    from gymnasium.vector import AutoresetMode

    from text_gym import TextGenChatVectorEnv

    tokenizer = tiny_chat_tokenizer()
    ids = [tokenizer.convert_tokens_to_ids(w) for w in ("good", "bad", "the")] + [tokenizer.eos_token_id]
    env = TextGenChatVectorEnv(
        6,
        tokenizer=tokenizer,
        reward_model=positive_fraction,
        prompts=PROMPTS,
        user=lambda conversations, fields: ["it was so"] * len(conversations),
        max_turns=2,
        max_turn_tokens=3,
        max_new_tokens=16,
        max_prompt_tokens=8,
        autoreset_mode=AutoresetMode.DISABLED,
        allowed_tokens=ids,
    )
    policy = LMPolicy(tiny_model(vocab_size=len(tokenizer)))
    buffer = collect_rollout(policy, env, np.arange(6), torch.Generator().manual_seed(0), 1.0, False, policy)
    allowed = buffer.action_mask
    assert allowed.shape == (len(tokenizer),) and sorted(np.flatnonzero(allowed.numpy())) == sorted(ids)
    assert set(_agent_tokens(buffer).tolist()) <= set(ids)
    inserted = buffer.response_ids[(buffer.response_mask == 0) & (buffer.response_attention_mask == 1)]
    assert len(inserted) > 0 and not set(inserted.tolist()) <= set(ids)  # the env wrote tokens of its own
    expected = _full_forward_logprobs(policy.model, buffer, 1.0, lambda row, t: allowed)
    assert torch.allclose(buffer.logprobs, expected, atol=1e-5)
    assert torch.allclose(buffer.ref_logprobs, expected, atol=1e-5)


def test_lora_reference_log_probs_are_under_the_mask():
    from peft import LoraConfig

    lora = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True)
    policy = LMPolicy.from_pretrained(tiny_model(), peft_config=lora)
    env = tiny_env(6, allowed_tokens=ALLOWED)
    reference = AdapterDisabledReference(policy)
    buffer = collect_rollout(policy, env, np.arange(6), torch.Generator().manual_seed(0), 1.0, False, reference)
    allowed = torch.zeros(V, dtype=torch.bool)
    allowed[ALLOWED] = True
    expected = _full_forward_logprobs(policy.model.get_base_model(), buffer, 1.0, lambda row, t: allowed)
    assert torch.allclose(buffer.ref_logprobs, expected, atol=1e-5)


# ------------------------------------------------------------------ training
class BufferRecorder(BaseCallback):
    """Keeps every rollout's buffer (``buffer`` is in the learn loop's locals)."""

    def __init__(self) -> None:
        super().__init__()
        self.buffers = []

    def _on_step(self) -> bool:
        self.buffers.append(self.locals["buffer"])
        return True


def _train_and_check(agent, updates: int, allowed_at) -> None:
    """``updates`` updates; every sampled token is allowed (``allowed_at(buffer) -> bool [B, T, V] or [V]``), every
    update took finite optimizer steps, and the weights moved. The agent makes one optimizer step per rollout, so
    the update's log-probs equal the rollout's only if both are under the same masks: ``approx_kl`` is 0."""
    recorder, logged = BufferRecorder(), []
    log = agent.training_logger.log
    agent.training_logger.log = lambda metrics, *args: logged.append(metrics) or log(metrics, *args)
    before = [p.detach().clone() for p in agent.policy.trainable_parameters()]
    agent.learn(1, progress_bar=False, callback=recorder)
    while agent.n_updates < updates:
        agent.learn(agent.num_timesteps + 1, progress_bar=False, callback=recorder, reset_num_timesteps=False)
    assert len(recorder.buffers) == updates
    for buffer in recorder.buffers:
        agent_positions = buffer.response_mask > 0
        allowed = allowed_at(buffer)
        if allowed.ndim == 1:
            assert allowed[buffer.response_ids[agent_positions]].all()
        else:
            assert allowed.gather(-1, buffer.response_ids.unsqueeze(-1)).squeeze(-1)[agent_positions].all()
    for metrics in logged:
        assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["train/policy_loss"])
        assert metrics["train/optimizer_steps"] > 0 and metrics["train/skipped_steps"] == 0
        assert math.isfinite(metrics["objective/entropy"])
        assert metrics["train/approx_kl"] < 1e-8
    after = agent.policy.trainable_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def _allowed() -> torch.Tensor:
    allowed = torch.zeros(V, dtype=torch.bool)
    allowed[ALLOWED] = True
    return allowed


@pytest.mark.parametrize(
    ("cls", "config"),
    [(PPO, {"n_epochs": 1}), (REINFORCE, {"baseline": "rloo", "group_size": 2})],
    ids=["ppo", "rloo"],
)
def test_masked_env_through_env_kwargs_trains(cls, config):
    env_kwargs = {**ENV_KWARGS, "allowed_tokens": ALLOWED}
    agent = cls(tiny_model(), "TextGen-v0", env_kwargs=env_kwargs, n_envs=8, seed=0, kl_coef=0.1, **config)
    _train_and_check(agent, 2, lambda buffer: _allowed())


def test_top_k_env_through_env_kwargs_trains_with_ppo():
    env_kwargs = {**ENV_KWARGS, "mask_top_k": TOP_K, "mask_model": tiny_model(seed=5).eval()}
    agent = PPO(tiny_model(), "TextGen-v0", env_kwargs=env_kwargs, n_envs=8, seed=0, kl_coef=0.1, n_epochs=1)
    _train_and_check(agent, 2, lambda buffer: _ids_to_bool(buffer.action_mask))


def test_masked_vector_env_object_trains():
    agent = GRPO(tiny_model(), tiny_env(8, allowed_tokens=ALLOWED), seed=0, group_size=2)
    _train_and_check(agent, 2, lambda buffer: _allowed())


def test_masked_gym_make_vec_env_trains():
    made = gym.make_vec("TextGen-v0", num_envs=8, vocab_size=V, allowed_tokens=ALLOWED, **ENV_KWARGS)
    agent = PPO(tiny_model(), made, seed=0, n_epochs=1)
    assert agent.env.task.vocabulary_mask is not None  # the rebuilt env kept the restriction
    _train_and_check(agent, 2, lambda buffer: _allowed())


# ------------------------------------------------------------------ predict
def test_predict_emits_only_allowed_tokens():
    agent = PPO(tiny_model(), tiny_env(4, allowed_tokens=ALLOWED), seed=0, temperature=3.0)
    obs, _ = agent.env.reset(options={"prompt_index": np.arange(4)})
    sampled = np.concatenate([agent.predict(obs)[0] for _ in range(25)])
    assert set(sampled.tolist()) <= set(ALLOWED) and len(set(sampled.tolist())) > 1
    greedy, _ = agent.predict(obs, deterministic=True)
    for row in range(4):
        ids = obs["input_ids"][row][obs["attention_mask"][row] == 1]
        with torch.no_grad():
            logits = agent.policy.model(torch.as_tensor(ids)[None]).logits[0, -1]
        assert greedy[row] == ALLOWED[int(logits[ALLOWED].argmax())]
    single, _ = agent.predict({k: v[0] for k, v in obs.items()}, deterministic=True)
    assert single == greedy[0]


def test_predict_under_a_top_k_env_and_under_explicit_action_masks():
    agent = PPO(tiny_model(), tiny_env(4, mask_top_k=TOP_K, mask_model=tiny_model(seed=5).eval()), seed=0)
    obs, info = agent.env.reset(options={"prompt_index": np.arange(4)})
    masks = info["action_mask"]
    for _ in range(10):
        actions, _ = agent.predict(obs)
        assert masks[np.arange(4), actions].all()
    # No env: the caller's mask (sb3-contrib's action_masks argument), one [V] for all rows or one per row.
    bare = PPO(tiny_model(), None, seed=0)
    only = np.zeros(V, dtype=bool)
    only[[6, 9]] = True
    assert set(np.concatenate([bare.predict(obs, action_masks=only)[0] for _ in range(10)])) <= {6, 9}
    per_row = np.zeros((4, V), dtype=bool)
    per_row[np.arange(4), [3, 6, 9, 14]] = True
    assert bare.predict(obs, action_masks=per_row)[0].tolist() == [3, 6, 9, 14]
    with pytest.raises(ValueError, match="action_masks"):
        bare.predict(obs, action_masks=np.ones((3, V), dtype=bool))
    wide = PPO(tiny_model(vocab_size=64), tiny_env(4, vocab_size=V), seed=0)  # LM head wider than the env
    beyond = np.zeros(64, dtype=bool)
    beyond[V + 3] = True  # only an id the env has no action for
    with pytest.raises(ValueError, match=rf"V <= {V} \(the env's number of actions\)"):
        wide.predict(obs, action_masks=beyond)


# ------------------------------------------------------------------ unmasked envs
def test_unmasked_env_makes_and_applies_no_mask(monkeypatch):
    import agents.common.base
    import agents.common.policy

    def refuse(*args, **kwargs):
        raise AssertionError("a mask function ran for an env without a vocabulary restriction")

    monkeypatch.setattr(RolloutMasks, "__init__", refuse)
    monkeypatch.setattr(agents.common.policy, "masked_token_logprobs", refuse)
    monkeypatch.setattr(agents.common.base, "mask_logprobs", refuse)
    agent = PPO(tiny_model(), tiny_env(4), seed=0, kl_coef=0.1)
    buffer = agent.collect_rollouts()
    assert buffer.action_mask is None
    agent.learn(1, progress_bar=False)
    assert agent.n_updates == 1
    obs, _ = agent.env.reset()
    agent.predict(obs)
