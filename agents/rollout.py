"""The rollout collector shared by every algorithm: the policy acts one token per ``step`` of a TextGen vector env.

All ``B`` episodes start together (``reset_tensors``), the policy keeps its KV cache across steps, and the loop ends
when the env says every episode has ended (``env.ended``, a host array the env keeps in sync at no extra cost).
Per token it does what ``model.generate`` does: one cached forward of the last token, a softmax, a multinomial
draw, and the env's one small "which episodes ended" host sync. Log-probs are recorded at the sampling
temperature, so training recomputes them at the same temperature.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.policy import LMPolicy, position_ids_from_mask


@dataclass
class RolloutBuffer:
    """One batch of ``B`` finished episodes; ``T`` is the longest completion, per-token tensors are ``[B, T]``.

    ``query_ids`` / ``query_mask`` ``[B, Q]`` hold the left-padded prompts (the columns padded in every row are
    trimmed); ``response_mask`` is 1.0 on generated tokens and 0.0 after an episode ended.
    """

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor | None
    ref_logprobs: torch.Tensor | None
    scores: torch.Tensor
    prompt_index: np.ndarray
    prompts: list[str]
    completions: list[str]
    stop_reasons: list[str]
    num_tokens: int
    rollout_s: float

    @property
    def batch_size(self) -> int:
        return self.response_ids.shape[0]

    def sequences(self, index: torch.Tensor | slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``(input_ids, attention_mask, response_start)`` of prompt + response for rows ``index``."""
        input_ids = torch.cat([self.query_ids[index], self.response_ids[index]], dim=1)
        attention_mask = torch.cat([self.query_mask[index], self.response_mask[index].long()], dim=1)
        return input_ids, attention_mask, self.query_ids.shape[1]


@torch.no_grad()
def collect_rollout(
    policy: LMPolicy,
    env,
    prompt_index: np.ndarray,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    with_values: bool = False,
    ref_policy: Callable[..., tuple[torch.Tensor, None]] | None = None,
) -> RolloutBuffer:
    """Run one batch of episodes of ``env`` (a ``TextGenVectorEnv`` in ``DISABLED`` autoreset mode) to the end.

    Args:
        policy: the acting policy; its log-probs ``[B, V]`` at ``temperature`` are sampled with ``generator``.
        env: the vector env; its ``num_envs`` is the batch size ``B``.
        prompt_index: int ``[B]``, the prompt of each sub-env (repeat an index to sample a group for it).
        with_values: record the value of each state (PPO); a separate critic is run once on the whole batch.
        ref_policy: the KL reference (a frozen :class:`agents.LMPolicy`, or a LoRA policy's
            :class:`agents.policy.AdapterDisabledReference`); when given, the reference log-probs of the sampled
            tokens are computed in one batched forward.
    """
    start_time = time.perf_counter()
    task = env.task
    P = task.max_prompt_tokens
    B = env.num_envs
    device = env.device
    obs, _ = env.reset_tensors(options={"prompt_index": prompt_index})
    input_ids, attention_mask = obs["input_ids"], obs["attention_mask"]
    prompt_lengths = task.prompt_lengths[prompt_index]
    first = P - int(prompt_lengths.max())  # columns before `first` are padding in every row
    lengths = torch.as_tensor(prompt_lengths, device=device).unsqueeze(1)

    logprobs = torch.zeros(B, task.max_new_tokens, device=device)
    values = torch.zeros(B, task.max_new_tokens, device=device) if with_values else None
    returns = torch.zeros(B, device=device)
    prompts, completions, reasons = [""] * B, [""] * B, [""] * B
    shared_values = with_values and policy.critic is None

    query_mask = attention_mask[:, first:P]
    # The cache's length is fixed per task (not trimmed with `first`), so a static cache keeps its shapes.
    cache = policy.new_rollout_cache(B, task.seq_len)
    step_logprobs, step_values, cache = policy.next_token_logprobs(
        input_ids[:, first:P], query_mask, position_ids_from_mask(query_mask), cache, temperature, shared_values
    )
    steps = task.max_new_tokens
    for t in range(task.max_new_tokens):
        actions = torch.multinomial(step_logprobs.exp(), 1, generator=generator)
        logprobs[:, t] = step_logprobs.gather(1, actions).squeeze(1)
        if shared_values:
            values[:, t] = step_values
        _, rewards, _, _, info = env.step_tensors(actions.squeeze(1))
        returns += rewards
        if "_completion" in info:
            for row in np.flatnonzero(info["_completion"]):
                prompts[row], completions[row] = info["prompt"][row], info["completion"][row]
                reasons[row] = info["stop_reason"][row]
        if env.ended.all():
            steps = t + 1
            break
        # The env's observation now holds the action just taken (or padding, in episodes that have ended).
        step_logprobs, step_values, cache = policy.next_token_logprobs(
            input_ids[:, P + t : P + t + 1],
            attention_mask[:, first : P + t + 1],
            lengths + t,
            cache,
            temperature,
            shared_values,
        )

    response_mask = attention_mask[:, P : P + steps].float()
    buffer = RolloutBuffer(
        query_ids=input_ids[:, first:P].clone(),
        query_mask=query_mask.clone(),
        response_ids=input_ids[:, P : P + steps].clone(),
        response_mask=response_mask,
        logprobs=logprobs[:, :steps] * response_mask,
        values=None if values is None else values[:, :steps],
        ref_logprobs=None,
        scores=returns,
        prompt_index=np.asarray(prompt_index).copy(),
        prompts=prompts,
        completions=completions,
        stop_reasons=reasons,
        num_tokens=int(env.num_tokens.sum()),
        rollout_s=0.0,
    )
    sequence_ids, sequence_mask, response_start = buffer.sequences()
    if with_values and not shared_values:
        _, critic_values = policy(sequence_ids, sequence_mask, response_start, temperature, True)
        buffer.values = critic_values
    if buffer.values is not None:
        buffer.values = buffer.values * response_mask
    buffer.rollout_s = time.perf_counter() - start_time
    if ref_policy is not None:
        ref_logprobs, _ = ref_policy(sequence_ids, sequence_mask, response_start, temperature)
        buffer.ref_logprobs = ref_logprobs
    return buffer
