"""KLPenaltyCallback: the RLHF per-token KL penalty for stock SB3 on-policy algorithms (PPO, A2C, MaskablePPO).

Semantics (exactly what the algorithm then trains on). At the end of each rollout, for every stored step ``t`` of
every sub-env, with ``a_t`` the sampled token and ``s_t`` the observation it was sampled in::

    kl_t     = kl_estimate(log pi_old(a_t | s_t), log pi_ref(a_t | s_t), estimator)   # agents.kl_estimate
    reward_t = reward_t - kl_coef * kl_t

``log pi_old`` is the log-prob SB3 stored when sampling (``rollout_buffer.log_probs``; for MaskablePPO, under the
masked distribution), ``log pi_ref`` the frozen reference's log-softmax over the env's ``V`` actions (never
masked). The score still arrives on the last token of the episode, so the return of each token is the score minus
the KL of it and the later tokens (TRL's ``score - beta * KL`` per token). Returns and GAE advantages are then
recomputed from the new rewards with the bootstrap values and dones SB3 used (SB3 computes them *before*
``on_rollout_end``). ``rollout/ep_rew_mean`` keeps showing the raw scores; the callback logs ``rollout/kl``
(mean ``kl_t`` per token, nats), ``rollout/kl_per_episode`` (the rollout's summed ``kl_t`` over the number of
episodes that started in it) and ``rollout/non_score_reward`` (mean ``-kl_coef * kl_t`` per token).

Cost: one batched forward of the reference over the whole context of each of the ``n_steps * n_envs`` stored
observations per rollout (no KV cache), about the cost of the rollout's own policy forwards, done in chunks of
``batch_size`` after the rollout.

It does not apply to off-policy algorithms (DQN): their replay buffer has no stored log-probs.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from agents.common.action_masks import masked_token_logprobs
from agents.common.kl import KL_ESTIMATORS, KLEstimator, check_kl_coef, kl_estimate
from reward_models.common import check_positive_int
from reward_models.common.lm import load_causal_lm, next_token_logits


class KLPenaltyCallback(BaseCallback):
    """Subtract ``kl_coef * KL(pi || pi_ref)`` per token from the rewards of each rollout (see module docstring).

    Args:
        kl_coef: the penalty coefficient ``beta`` (>= 0).
        ref_model: the frozen reference causal LM (a transformers model, hub id, folder or ``"smollm2"``); default:
            a copy of the policy's LM taken when training starts (``model.policy.lm``).
        estimator: ``"k1"`` (``log_ratio``, TRL's default) or ``"k3"`` (see ``agents.kl_estimate``).
        batch_size: observations per reference forward.
    """

    def __init__(
        self,
        kl_coef: float = 0.05,
        ref_model: str | os.PathLike | nn.Module | None = None,
        estimator: KLEstimator = "k1",
        batch_size: int = 256,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        check_kl_coef(kl_coef)
        if estimator not in KL_ESTIMATORS:
            raise ValueError(f"estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")
        check_positive_int("batch_size", batch_size)
        self.kl_coef, self.estimator, self.batch_size = float(kl_coef), estimator, batch_size
        self.ref_model = None if ref_model is None else load_causal_lm(ref_model, argument="ref_model")
        self.last_kl: np.ndarray | None = None

    def _on_training_start(self) -> None:
        if self.ref_model is None:
            lm = getattr(self.model.policy, "lm", None)
            if lm is None:
                raise ValueError(
                    "KLPenaltyCallback needs ref_model=... unless the policy is an LM policy "
                    "(agents.sb3.LMActorCriticPolicy / MaskableLMActorCriticPolicy)"
                )
            self.ref_model = load_causal_lm(copy.deepcopy(lm))
        self.ref_model.to(self.model.device)

    def _on_step(self) -> bool:
        return True

    @torch.no_grad()
    def reference_logprobs(
        self, observations: dict[str, np.ndarray], actions: np.ndarray, action_masks: np.ndarray | None = None
    ) -> torch.Tensor:
        """``log pi_ref(a | s)`` ``[N]`` for observations ``{key: [N, L]}`` and actions ``[N]``; with
        ``action_masks`` (bool ``[N, V]``, MaskablePPO's) the reference is renormalised over each step's allowed
        actions, as the policy's sampling log-probs are, so an unchanged policy has KL 0."""
        num_actions = self.model.action_space.n
        out = []
        for start in range(0, len(actions), self.batch_size):
            chunk = {
                k: torch.as_tensor(v[start : start + self.batch_size], device=self.model.device)
                for k, v in observations.items()
            }
            logits = next_token_logits(self.ref_model, chunk["input_ids"], chunk["attention_mask"])[:, :num_actions]
            chosen = torch.as_tensor(actions[start : start + self.batch_size], device=logits.device).long()
            if action_masks is None:
                out.append(torch.log_softmax(logits, dim=-1).gather(1, chosen.view(-1, 1)).squeeze(1))
            else:
                mask = torch.as_tensor(action_masks[start : start + self.batch_size], device=logits.device).bool()
                out.append(masked_token_logprobs(logits, chosen, mask))
        return torch.cat(out).cpu()

    def _on_rollout_end(self) -> None:
        buffer = self.locals.get("rollout_buffer")
        if not isinstance(buffer, DictRolloutBuffer):
            raise TypeError(
                f"KLPenaltyCallback needs an on-policy algorithm (PPO, A2C, MaskablePPO) on a TextGen "
                f"env, whose rollout buffer holds the sampling log-probs; got {type(buffer).__name__}"
            )
        n_steps, n_envs = buffer.rewards.shape
        observations = {key: value.reshape(n_steps * n_envs, -1) for key, value in buffer.observations.items()}
        masks = getattr(buffer, "action_masks", None)  # sb3-contrib's MaskableDictRolloutBuffer
        masks = None if masks is None else masks.reshape(n_steps * n_envs, -1)
        ref_logprobs = self.reference_logprobs(observations, buffer.actions.reshape(-1), masks)
        kl = kl_estimate(torch.as_tensor(buffer.log_probs.reshape(-1)), ref_logprobs, self.estimator)
        kl = kl.numpy().reshape(n_steps, n_envs).astype(np.float32)
        buffer.rewards -= self.kl_coef * kl
        buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])
        self.last_kl = kl
        episodes = max(int(buffer.episode_starts.sum()), 1)
        self.logger.record("rollout/kl", float(kl.mean()))
        self.logger.record("rollout/kl_per_episode", float(kl.sum()) / episodes)
        self.logger.record("rollout/non_score_reward", float(-self.kl_coef * kl.mean()))
