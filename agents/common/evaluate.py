"""Score a policy on every prompt of an env: the env's reward model (proxy) and, optionally, a gold labeller and
named extra metrics (e.g. a harmlessness task's over-correction rate)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.common.merged_adapters import merged_adapters
from agents.common.policy import LMPolicy
from agents.common.rollout import collect_rollout
from reward_models import RewardFn, call_reward, check_scores, make_reward_model
from text_gym.chat.gold import gold_fields


@dataclass
class EvalResult:
    """Per-prompt results, in the env's prompt order: ``scores`` (the env's reward: a chat env's episode returns) and
    ``gold_scores``; ``conversations`` holds a chat env's episodes as message lists (``None`` for single-turn
    envs), for metrics of whole conversations; ``metrics`` the per-prompt scores of each extra metric, by name."""

    prompts: list[str]
    completions: list[str]
    scores: np.ndarray
    gold_scores: np.ndarray | None
    conversations: list[list[dict[str, str]] | None]
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def score_mean(self) -> float:
        return float(self.scores.mean())

    @property
    def gold_mean(self) -> float | None:
        return None if self.gold_scores is None else float(self.gold_scores.mean())

    @property
    def metric_means(self) -> dict[str, float]:
        """The mean of each extra metric over the prompts, by name."""
        return {name: float(scores.mean()) for name, scores in self.metrics.items()}


def evaluate(
    agent,
    env,
    gold_reward_model: str | RewardFn | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    metrics: Mapping[str, str | RewardFn] | None = None,
) -> EvalResult:
    """Sample one completion per prompt of ``env`` with ``agent`` (a ``agents.BaseAlgorithm``) at its
    temperature, with a generator seeded by ``seed`` (the agent's own random state is not touched).

    ``env`` is anything the agent's constructor accepts (see ``agents.BaseAlgorithm.make_env``); ``metrics`` as in
    ``evaluate_lm``.
    """
    return evaluate_lm(
        agent.policy,
        agent.make_env(env),
        gold_reward_model,
        seed,
        agent.config.temperature,
        agent.autocast,
        progress_bar,
        metrics,
        agent.config.merge_lora_for_rollout,
    )


def evaluate_lm(
    policy: LMPolicy,
    env,
    gold_reward_model: str | RewardFn | None = None,
    seed: int = 0,
    temperature: float = 1.0,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    progress_bar: bool = False,
    metrics: Mapping[str, str | RewardFn] | None = None,
    merge_adapters: bool = True,
) -> EvalResult:
    """``evaluate`` for a bare ``agents.LMPolicy`` (e.g. the LM of an SB3 policy,
    ``LMActorCriticPolicy.lm_policy()``).

    ``env`` is a ``TextGenVectorEnv`` in ``DISABLED`` autoreset mode (``agents.common.envs.make_vector_env``); its
    ``num_envs`` prompts are sampled per batch at ``temperature`` with a generator seeded by ``seed``, under
    ``autocast()``. The completions depend only on the LM's weights, ``env``, ``seed`` and ``temperature``. On a
    chat env the gold reward model also gets the conversations (field ``conversations``;
    ``text_gym.chat.gold.gold_fields``), e.g. ``"support-success"``. ``metrics`` (name -> reward-model spec or
    ``RewardFn``, e.g. a task's ``text_gym.task_metrics``) are scored on the same completions, with the same fields
    as the gold. A LoRA policy samples with its adapters merged into its base weights when ``merge_adapters``
    (``agents.common.merged_adapters``; the same tokens to float rounding, the base restored bit for bit
    afterwards).
    """
    if not isinstance(env.task.prompts, list):
        raise ValueError(
            "evaluate needs an env with a fixed prompt list, got an endless procedural source; build the env with "
            "prompts=text_gym.task_prompts(env_id, 'test') (or any list)"
        )
    gold = make_reward_model(gold_reward_model) if gold_reward_model is not None else None
    extra = {name: make_reward_model(spec) for name, spec in (metrics or {}).items()}
    count, B = len(env.task.prompts), env.num_envs
    generator = torch.Generator(policy.device).manual_seed(seed)
    prompts, completions, scores, indices, conversations = [], [], [], [], []
    policy.eval()
    with merged_adapters(policy, merge_adapters):
        for begin in tqdm(range(0, count, B), desc="evaluate", disable=not progress_bar):
            index = np.minimum(np.arange(begin, begin + B), count - 1)  # the last batch repeats the last prompt
            keep = min(B, count - begin)
            with autocast():
                buffer = collect_rollout(policy, env, index, generator, temperature)
            prompts += buffer.prompts[:keep]
            indices += index[:keep].tolist()
            completions += buffer.completions[:keep]
            conversations += buffer.conversations[:keep]
            scores.append(buffer.scores[:keep].double().cpu().numpy())
    fields = gold_fields(env.task.prompt_fields(indices), conversations) if gold is not None or extra else {}
    gold_scores = None
    if gold is not None:
        gold_scores = np.asarray(call_reward(gold, prompts, completions, fields, "gold_reward_model"), np.float64)
    metric_scores = {}
    for name, model in extra.items():
        source = f"metric {name!r}"
        scored = call_reward(model, prompts, completions, fields, source)
        metric_scores[name] = check_scores(scored, len(prompts), source)
    return EvalResult(prompts, completions, np.concatenate(scores), gold_scores, conversations, metric_scores)
