"""Score a policy on every prompt of an env: the env's reward model (proxy) and, optionally, a gold labeller."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.rollout import collect_rollout
from reward_models import RewardFn, make_reward_model


@dataclass
class EvalResult:
    """Per-prompt results, in the env's prompt order: ``scores`` (the env's reward model) and ``gold_scores``."""

    prompts: list[str]
    completions: list[str]
    scores: np.ndarray
    gold_scores: np.ndarray | None

    @property
    def score_mean(self) -> float:
        return float(self.scores.mean())

    @property
    def gold_mean(self) -> float | None:
        return None if self.gold_scores is None else float(self.gold_scores.mean())


def evaluate(agent, env, gold_reward_model: str | RewardFn | None = None, seed: int = 0,
             progress_bar: bool = False) -> EvalResult:
    """Sample one completion per prompt of ``env`` with ``agent`` (a :class:`agents.BaseAlgorithm`) at its
    temperature, with a generator seeded by ``seed`` (the agent's own random state is not touched).

    ``env`` is anything the agent's constructor accepts (see :meth:`agents.BaseAlgorithm.make_env`).
    """
    env = agent.make_env(env)
    gold = make_reward_model(gold_reward_model) if gold_reward_model is not None else None
    count, B = len(env.task.prompts), env.num_envs
    generator = torch.Generator(agent.device).manual_seed(seed)
    prompts, completions, scores = [], [], []
    agent.policy.eval()
    for begin in tqdm(range(0, count, B), desc="evaluate", disable=not progress_bar):
        index = np.minimum(np.arange(begin, begin + B), count - 1)  # the last batch repeats the last prompt
        keep = min(B, count - begin)
        with agent.autocast():
            buffer = collect_rollout(agent.policy, env, index, generator, agent.config.temperature)
        prompts += buffer.prompts[:keep]
        completions += buffer.completions[:keep]
        scores.append(buffer.scores[:keep].double().cpu().numpy())
    gold_scores = None if gold is None else np.asarray(gold(prompts, completions), dtype=np.float64)
    return EvalResult(prompts, completions, np.concatenate(scores), gold_scores)
