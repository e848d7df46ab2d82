"""Stock SB3 / sb3-contrib on TextGen-v0: the VecEnv adapter, the LM policies (PPO, A2C, MaskablePPO), the KL
penalty callback and evaluate_policy. Tiny offline GPT-2 and word-level tokenizer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import make_tiny_tokenizer
from sb3_contrib import MaskablePPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from test_env import EOS, PROMPTS
from test_masking import reference_next_logits
from transformers import GPT2Config, GPT2LMHeadModel

from agents.common.policy import position_ids_from_mask
from agents.sb3 import KLPenaltyCallback, LMActorCriticPolicy, MaskableLMActorCriticPolicy, SB3VecEnv
from text_gym import TextGenVectorEnv

TOKENIZER = make_tiny_tokenizer()
V = len(TOKENIZER)
GOOD = {"good", "great", "happy", "love", "fine"}
GOOD_IDS = TOKENIZER.convert_tokens_to_ids(sorted(GOOD))


def good_fraction(prompts, completions):
    """Learnable toy reward in [0, 1]: the fraction of completion words in GOOD (0 for an empty completion)."""
    return [sum(w in GOOD for w in c.split()) / max(len(c.split()), 1) for c in completions]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one thread is several times faster than two on a busy 2-core machine (no OpenMP spinning)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    return GPT2LMHeadModel(
        GPT2Config(vocab_size=V, n_positions=16, n_embd=32, n_layer=2, n_head=2, bos_token_id=EOS, eos_token_id=EOS)
    ).eval()


def make_env(num_envs: int = 8, **kwargs) -> SB3VecEnv:
    options = dict(
        tokenizer=TOKENIZER, reward_model=good_fraction, prompts=PROMPTS, max_new_tokens=4, max_prompt_tokens=4
    )
    options.update(kwargs)
    return SB3VecEnv("TextGen-v0", num_envs=num_envs, **options)


class RecordSteps(BaseCallback):
    """Keeps every rollout step's observations, actions, action masks (MaskablePPO) and env rewards."""

    def __init__(self):
        super().__init__()
        self.actions, self.masks, self.rewards = [], [], []

    def _on_step(self) -> bool:
        self.actions.append(np.asarray(self.locals["actions"]).reshape(-1).copy())
        self.rewards.append(np.asarray(self.locals["rewards"]).copy())
        if self.locals.get("action_masks") is not None:
            self.masks.append(np.asarray(self.locals["action_masks"]).copy())
        return True


# ------------------------------------------------------------------ adapter
def test_vec_env_terminal_observations_infos_and_episode_stats():
    env = make_env(3)
    env.seed(5)
    obs = env.reset()
    assert obs["input_ids"].shape == (3, 8) and [i["prompt_index"] for i in env.reset_infos]
    good = TOKENIZER.convert_tokens_to_ids("good")
    obs, rewards, dones, infos = env.step(np.array([EOS, good, good]))
    assert dones.tolist() == [True, False, False] and rewards.tolist() == [0.0, 0.0, 0.0]
    assert infos[0]["episode"] == {"r": 0.0, "l": 1, "t": infos[0]["episode"]["t"]}
    assert infos[0]["terminal_observation"]["input_ids"][4] == EOS and infos[0]["TimeLimit.truncated"] is False
    assert obs["attention_mask"][0, 4:].sum() == 0  # sub-env 0 already shows its next prompt
    assert infos[1] == {} and infos[2] == {}
    for _ in range(3):
        obs, rewards, dones, infos = env.step(np.array([good, good, good]))
    assert dones.tolist() == [False, True, True] and rewards.tolist() == [0.0, 1.0, 1.0]
    assert infos[1]["completion"] == "good good good good" and infos[1]["episode"]["r"] == 1.0
    assert infos[1]["episode"]["l"] == 4 and infos[1]["stop_reason"] == "length"
    np.testing.assert_array_equal(infos[2]["terminal_observation"]["input_ids"][4:], [good] * 4)


def test_vec_env_forwards_the_per_prompt_fields_on_every_step_and_reset():
    rows = [{"prompt": prompt, "topic": f"t{k}", "tags": [k, k + 1]} for k, prompt in enumerate(PROMPTS)]
    env = make_env(2, prompts=rows)
    env.set_options({"prompt_index": 1})
    env.reset()
    assert env.reset_infos == [{"prompt": PROMPTS[1], "prompt_index": 1, "topic": "t1", "tags": [1, 2]}] * 2
    good = TOKENIZER.convert_tokens_to_ids("good")
    _, _, dones, infos = env.step(np.array([EOS, good]))
    assert dones.tolist() == [True, False]
    assert infos[1] == {"topic": "t1", "tags": [1, 2]}  # a running episode's fields, on every step
    assert infos[0]["topic"] == "t1" and infos[0]["prompt_index"] == 1  # the finished episode's, not the next one's
    quiet = make_env(2, prompts=rows, text_info=False)
    quiet.reset()
    assert quiet.step(np.array([good, good]))[3] == [{}, {}]


def test_episode_statistics_come_from_stock_vec_monitor():
    env = make_env(2)
    assert isinstance(env, VecMonitor) and isinstance(env.venv, VecEnv) and not isinstance(env.venv, VecMonitor)
    assert env.env_is_wrapped(Monitor) == [False, False]  # no sub-env is a Monitor-wrapped Gymnasium env
    assert env.env is env.venv.env and env.get_attr("task") == [env.env.task] * 2
    env.reset()
    eos = np.array([EOS, EOS])
    _, _, dones, infos = env.step(eos)
    assert dones.all() and env.episode_count == 2 and [info["episode"]["l"] for info in infos] == [1, 1]


def test_vec_env_seeding_and_prompt_options():
    first, second = make_env(4), make_env(4)
    first.seed(3), second.seed(3)
    np.testing.assert_array_equal(first.reset()["input_ids"], second.reset()["input_ids"])
    first.set_options({"prompt_index": 2})
    first.reset()
    assert [i["prompt_index"] for i in first.reset_infos] == [2, 2, 2, 2]
    first.set_options({"seed_everything": 1})
    with pytest.raises(ValueError, match="unknown reset options"):
        first.reset()


def test_vec_env_rejects_other_autoreset_modes():
    envs = TextGenVectorEnv(
        2, tokenizer=TOKENIZER, reward_model=good_fraction, prompts=PROMPTS, max_new_tokens=4, max_prompt_tokens=4
    )
    with pytest.raises(ValueError, match="autoreset_mode='SameStep'"):
        SB3VecEnv(envs)


# ------------------------------------------------------------------ policy
def test_lm_policy_distribution_is_the_lm_next_token_distribution():
    lm = tiny_gpt2()
    env = make_env(4)
    algo = PPO(LMActorCriticPolicy, env, n_steps=4, batch_size=16, policy_kwargs={"model": lm}, seed=0)
    assert algo.policy.lm is lm and algo.policy.action_net.head is lm.get_output_embeddings()
    obs = env.reset()
    for _ in range(2):
        obs, *_ = env.step(np.array(GOOD_IDS[:4]))
    obs_tensor, _ = algo.policy.obs_to_tensor(obs)
    with torch.no_grad():
        dist = algo.policy.get_distribution(obs_tensor)
        values = algo.policy.predict_values(obs_tensor)
    expected = torch.log_softmax(reference_next_logits(lm, obs["input_ids"], obs["attention_mask"]), -1)
    torch.testing.assert_close(dist.distribution.logits, expected, atol=1e-5, rtol=1e-5)
    assert torch.all(values == 0)  # zero-initialised value head
    with pytest.raises(ValueError, match="requires ortho_init=False"):
        PPO(LMActorCriticPolicy, env, policy_kwargs={"model": lm, "ortho_init": True})


def test_lm_policy_view_has_the_sb3_action_distribution():
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(
        GPT2Config(vocab_size=V + 5, n_positions=16, n_embd=32, n_layer=2, n_head=2, bos_token_id=EOS, eos_token_id=EOS)
    )
    env = make_env(4)  # V actions: the LM head has 5 rows more
    algo = PPO(LMActorCriticPolicy, env, n_steps=4, batch_size=16, policy_kwargs={"model": lm}, seed=0)
    view = algo.policy.lm_policy()
    assert view.model is lm and view.num_actions == V and view.value_head is None
    obs = env.reset()
    obs_tensor, _ = algo.policy.obs_to_tensor(obs)
    ids, mask = torch.as_tensor(obs["input_ids"][:, :4]), torch.as_tensor(obs["attention_mask"][:, :4])  # prompt
    with torch.no_grad():
        expected = algo.policy.get_distribution(obs_tensor).distribution.logits
        logprobs, values, _ = view.next_token_logprobs(ids, mask, position_ids_from_mask(mask), None)
    torch.testing.assert_close(logprobs[:, :V], expected, atol=1e-5, rtol=1e-5)
    assert torch.all(logprobs[:, V:] == float("-inf")) and values is None


def test_save_and_load_restore_the_lm_policy(tmp_path):
    env = make_env(4)
    algo = PPO(LMActorCriticPolicy, env, n_steps=4, batch_size=16, seed=0, policy_kwargs={"model": tiny_gpt2()})
    algo.learn(32)
    obs_tensor, _ = algo.policy.obs_to_tensor(env.reset())

    def logits(policy):
        with torch.no_grad():
            return policy.get_distribution(obs_tensor).distribution.logits

    algo.save(tmp_path / "algo.zip")
    algo.policy.save(tmp_path / "policy.pt")
    torch.testing.assert_close(logits(PPO.load(tmp_path / "algo.zip", env=env).policy), logits(algo.policy))
    torch.testing.assert_close(logits(LMActorCriticPolicy.load(tmp_path / "policy.pt")), logits(algo.policy))


def test_ppo_with_lm_policy_learns_toy_reward():
    env = make_env(16)
    algo = PPO(
        LMActorCriticPolicy,
        env,
        n_steps=16,
        batch_size=64,
        n_epochs=4,
        learning_rate=3e-3,
        seed=0,
        policy_kwargs={"model": tiny_gpt2()},
    )
    initial = np.mean(
        evaluate_policy(algo, make_env(16), n_eval_episodes=64, deterministic=False, return_episode_rewards=True)[0]
    )
    algo.learn(16 * 16 * 10)
    final = np.mean(
        evaluate_policy(algo, make_env(16), n_eval_episodes=64, deterministic=False, return_episode_rewards=True)[0]
    )
    assert initial < 0.25 and final > 0.75, (initial, final)
    assert algo.ep_info_buffer[-1]["l"] <= 4  # rollout/ep_rew_mean statistics come from the adapter


def test_a2c_runs_and_updates_the_lm():
    lm = tiny_gpt2()
    before = lm.transformer.h[0].attn.c_attn.weight.detach().clone()
    algo = A2C(LMActorCriticPolicy, make_env(4), n_steps=4, seed=0, policy_kwargs={"model": lm})
    algo.learn(64)
    assert not torch.equal(before, lm.transformer.h[0].attn.c_attn.weight)
    assert np.isfinite(algo.logger.name_to_value["train/policy_loss"])


@pytest.mark.parametrize(
    "mask_kwargs", [{"allowed_tokens": [EOS, *GOOD_IDS[:2]]}, {"mask_top_k": 3, "mask_model": "ref"}]
)
def test_maskable_ppo_never_samples_masked_tokens(mask_kwargs):
    if mask_kwargs.get("mask_model") == "ref":
        mask_kwargs = dict(mask_kwargs, mask_model=tiny_gpt2(seed=7))
    env = make_env(8, **mask_kwargs)
    algo = MaskablePPO(
        MaskableLMActorCriticPolicy,
        env,
        n_steps=8,
        batch_size=32,
        n_epochs=2,
        seed=0,
        policy_kwargs={"model": tiny_gpt2()},
    )
    record = RecordSteps()
    algo.learn(8 * 8 * 3, callback=record)
    masks, actions = np.stack(record.masks), np.stack(record.actions)
    assert masks.shape == (24, 8, V) and (masks.sum(-1) == 3).all()
    assert np.take_along_axis(masks, actions[..., None], axis=-1).all()
    # Without masking the untrained policy would pick masked tokens most of the time (37 of 40 are masked).
    assert len(np.unique(actions)) > 1


# --------------------------------------------------------------------- KL
def test_kl_callback_changes_rewards_by_the_expected_amount():
    """gamma = lambda = 1, episodes of exactly 4 tokens (no EOS id) and 8 steps per rollout, so the returns
    are plain sums of the penalised rewards over each episode's remaining tokens."""
    beta = 0.3
    policy_lm, ref_lm = tiny_gpt2(seed=0), tiny_gpt2(seed=1)
    env = make_env(4, eos_token_ids=[])
    algo = PPO(
        LMActorCriticPolicy,
        env,
        n_steps=8,
        batch_size=32,
        n_epochs=1,
        gamma=1.0,
        gae_lambda=1.0,
        seed=0,
        policy_kwargs={"model": policy_lm},
    )
    kl_callback = KLPenaltyCallback(kl_coef=beta, ref_model=ref_lm)
    record = RecordSteps()
    observations = []
    record._on_rollout_end = lambda: observations.append(
        {k: v.copy() for k, v in record.locals["rollout_buffer"].observations.items()}
    )
    initial_lm = tiny_gpt2(seed=0)
    algo.learn(32, callback=[record, kl_callback])

    buffer = algo.rollout_buffer
    obs = {k: v.reshape(32, -1).astype(np.int64) for k, v in observations[0].items()}
    actions = np.stack(record.actions).reshape(32)
    logp = torch.log_softmax(reference_next_logits(initial_lm, obs["input_ids"], obs["attention_mask"]), -1)
    ref_logp = torch.log_softmax(reference_next_logits(ref_lm, obs["input_ids"], obs["attention_mask"]), -1)
    expected_kl = (logp - ref_logp)[torch.arange(32), actions].numpy().reshape(8, 4)
    raw = np.stack(record.rewards)
    assert (raw[[0, 1, 2, 4, 5, 6]] == 0).all() and np.abs(expected_kl).mean() > 0.01  # a real penalty to check
    np.testing.assert_allclose(buffer.rewards, raw - beta * expected_kl, atol=1e-4)
    np.testing.assert_allclose(kl_callback.last_kl, expected_kl, atol=1e-4)
    expected_returns = np.zeros((8, 4), dtype=np.float32)
    for start in (0, 4):  # two episodes per sub-env, 4 tokens each
        penalised = raw[start : start + 4] - beta * expected_kl[start : start + 4]
        expected_returns[start : start + 4] = np.cumsum(penalised[::-1], axis=0)[::-1]

    def unflatten(x):  # PPO's training pass flattened the buffer to [n_envs * n_steps, 1], sub-env major
        return x.reshape(4, 8).T

    np.testing.assert_allclose(unflatten(buffer.returns), expected_returns, atol=1e-4)
    np.testing.assert_allclose(unflatten(buffer.advantages), expected_returns - unflatten(buffer.values), atol=1e-4)


def test_kl_callback_default_reference_is_the_initial_policy():
    algo = PPO(LMActorCriticPolicy, make_env(4), n_steps=4, batch_size=16, seed=0, policy_kwargs={"model": tiny_gpt2()})
    callback = KLPenaltyCallback(kl_coef=0.1)
    algo.learn(16, callback=callback)
    np.testing.assert_allclose(callback.last_kl, 0.0, atol=1e-5)  # first rollout: policy == reference
    assert callback.ref_model is not algo.policy.lm
    assert not any(p.requires_grad for p in callback.ref_model.parameters())
    with pytest.raises(ValueError, match="kl_coef must be >= 0"):
        KLPenaltyCallback(kl_coef=-1)
    dqn = DQN("MultiInputPolicy", make_env(2), learning_starts=0, policy_kwargs={"net_arch": [8]})
    with pytest.raises(TypeError, match="needs an on-policy algorithm"):
        dqn.learn(8, callback=KLPenaltyCallback(kl_coef=0.1, ref_model=tiny_gpt2()))


# --------------------------------------------------------------- evaluate
def test_evaluate_policy_reports_the_env_scores():
    algo = PPO(LMActorCriticPolicy, make_env(4), n_steps=4, batch_size=16, seed=0, policy_kwargs={"model": tiny_gpt2()})
    env = make_env(4)
    scores, num_tokens = [], []

    def collect(locals_, globals_):  # called for the steps evaluate_policy counts
        if locals_["done"]:
            scores.append(locals_["info"]["score"])
            num_tokens.append(locals_["info"]["num_tokens"])

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # evaluate_policy warns about an env without Monitor statistics
        rewards, lengths = evaluate_policy(
            algo, env, n_eval_episodes=12, deterministic=False, return_episode_rewards=True, callback=collect
        )
    assert len(rewards) == 12 and rewards == pytest.approx(scores) and lengths == num_tokens
    assert all(1 <= n <= 4 for n in lengths) and len(set(rewards)) > 1


def test_kl_callback_under_maskable_ppo_is_zero_for_an_unchanged_policy():
    """MaskablePPO's sampling log-probs are renormalised over the allowed actions; the reference must be too, or an
    unchanged policy would pay log Z_mask > 0 per token."""
    env = make_env(4, allowed_tokens=[EOS, *GOOD_IDS[:2]])
    algo = MaskablePPO(
        MaskableLMActorCriticPolicy,
        env,
        n_steps=8,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"model": tiny_gpt2()},
    )
    kl_callback = KLPenaltyCallback(kl_coef=0.1)  # the reference: a copy of the policy's LM at the start
    algo.learn(8 * 4, callback=kl_callback)  # one rollout: the KL is measured before the first update
    assert kl_callback.last_kl is not None and np.abs(kl_callback.last_kl).max() < 1e-5
