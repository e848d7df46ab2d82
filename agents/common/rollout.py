"""The rollout collector shared by every algorithm: the policy acts one token per ``step`` of a TextGen vector env.

All ``B`` episodes start together (``reset_tensors``), the policy keeps its KV cache across steps, and the loop ends
when the env says every episode has ended (``env.ended``, a host array the env keeps in sync at no extra cost).
Per token it does what ``model.generate`` does: one cached forward of the last token, a softmax, a multinomial
draw, and the env's one small "which episodes ended" host sync. Log-probs are recorded at the sampling
temperature, so training recomputes them at the same temperature.

Envs that write tokens of their own after an action (a chat env appends the user's next turn, its observation has
an ``agent_mask``): after each step, every row's new tokens (its action, then what the env appended) are forwarded
through the KV cache as one block of width ``w`` = the most new tokens of any row in that step; rows with fewer
are left-padded inside the block (attention mask 0), so the block's last column is every row's newest token, whose
logits give its next action. Position ids count attended tokens only, so the padding holes change nothing: the
model sees each row's conversation exactly as the env's compact observation holds it. Such envs cost one more
small host sync per step (the block width). The KV cache carries the holes (when rows end their turns at different
steps it grows several times longer than the longest conversation), so a ``DynamicCache`` is compacted whenever it
is more than ``COMPACT_CACHE_RATIO`` times the longest row: the holes are dropped, which changes no result. The
buffer holds each conversation compact (the holes removed, as in the env's observation), so training forwards no
holes; its log-probs match the rollout's to float32 rounding, as a single-turn rollout's cached log-probs match a
full forward. A single-turn env builds no block: each step forwards the sampled actions themselves (an ended row's
masked out), as the one-token-per-step loop above, with no more per-token work than ``generate``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.common.action_masks import RolloutMasks
from agents.common.policy import LMPolicy, position_ids_from_mask
from agents.common.prefix_sharing import shared_prompt_rows


@dataclass
class RolloutBuffer:
    """One batch of ``B`` finished episodes; per-token tensors are ``[B, T]`` over the ``T`` response columns.

    ``query_ids`` / ``query_mask`` ``[B, Q]`` hold the left-padded prompts (the columns padded in every row are
    trimmed). ``response_ids`` ``[B, T]`` are the tokens after the prompt, then padding after the episode ended:
    the agent's tokens, and with an env that inserts tokens (a chat env) the env's tokens between them, in the
    order of the env's observation.

    - ``response_attention_mask`` (long): 1 on every token after the prompt (the agent's and the env's), 0 on
      padding.
    - ``response_mask`` (float): 1.0 on the agent's tokens (its actions), 0.0 on env-inserted tokens and padding.
      Only these tokens are trained on: the policy loss, ratios, KL, the entropy metric, values and value loss use
      this mask.
    - ``logprobs`` / ``values`` / ``ref_logprobs``: of the agent's tokens, 0 elsewhere (``values``: the value of the
      state each action was taken in).
    - ``rewards`` (float): the env's reward of each step at that step's agent token (a single-turn env: the
      episode score at the last token; a chat env: each turn's reward at the token that ended the turn, plus the
      conversation reward at the last agent token); ``scores`` ``[B]``: the episode returns (sums of rewards).
    - ``conversations``: a chat env's episodes as lists of ``{"role", "content"}`` messages (its ``conversation``
      info: for metrics of whole conversations, such as the support task's success); ``None`` for single-turn envs.
    - ``num_tokens``: the agent's tokens (env steps) of the batch.
    - ``action_mask``: the env's action masks the policy sampled under, ``None`` for an env without a vocabulary
      restriction; bool ``[V]`` for ``allowed_tokens`` alone, int64 ``[B, T, k]`` (the allowed ids of each
      position) for ``mask_top_k``: agents/common/action_masks.py, which also states their memory cost.
      ``logprobs`` / ``ref_logprobs`` are under these masks, and the update computes its log-probs under them.
    """

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    response_ids: torch.Tensor
    response_attention_mask: torch.Tensor
    response_mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor | None
    ref_logprobs: torch.Tensor | None
    rewards: torch.Tensor
    scores: torch.Tensor
    prompt_index: np.ndarray
    prompts: list[str]
    completions: list[str]
    stop_reasons: list[str]
    conversations: list[list[dict[str, str]] | None]
    num_tokens: int
    rollout_s: float
    action_mask: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.response_ids.shape[0]

    def sequences(self, index: torch.Tensor | slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``(input_ids, attention_mask, response_start)`` of prompt + response for rows ``index``."""
        input_ids = torch.cat([self.query_ids[index], self.response_ids[index]], dim=1)
        attention_mask = torch.cat([self.query_mask[index], self.response_attention_mask[index]], dim=1)
        return input_ids, attention_mask, self.query_ids.shape[1]


class TokenRecord:
    """What the rollout records of each agent token, by name: ``[B, N + 1]`` per channel over the env's columns after
    the prompt (a step's action at its column, 0 elsewhere; an ended episode writes its zeros into the extra last
    column). The channels are stacked in one tensor so that one scatter records a whole step.

    Channels: ``logprobs`` (of the sampled token at the sampling temperature), ``response_mask`` (1.0: an agent
    token), ``rewards`` (the env's reward of the step) and, with values, ``values``.
    """

    def __init__(self, with_values: bool, batch_size: int, max_new_tokens: int, device: torch.device) -> None:
        self.channels = ("logprobs", "response_mask", "rewards", *(("values",) if with_values else ()))
        self.data = torch.zeros(len(self.channels), batch_size, max_new_tokens + 1, device=device)

    def record(self, column: torch.Tensor, running: torch.Tensor, **values: torch.Tensor) -> None:
        """Write each channel's ``values`` ``[B]`` at ``column`` ``[B]`` (long) of the rows where ``running`` (bool
        ``[B]``), zeros in the others."""
        stacked = torch.where(running, torch.stack([values[name] for name in self.channels]), 0.0)
        index = column.view(1, -1, 1).expand(len(self.channels), -1, 1)
        self.data.scatter_(2, index, stacked[..., None])

    def channel(self, name: str, length: int) -> torch.Tensor:
        """Channel ``name``'s first ``length`` columns ``[B, length]``."""
        return self.data[self.channels.index(name), :, :length]


COMPACT_CACHE_RATIO = 2.0
"""With an env that inserts tokens, the rollout's KV cache is compacted (its padding holes dropped) whenever it grows
longer than this many times the most tokens any row attends to."""


def _compact_cache(cache: object, cache_mask: torch.Tensor) -> torch.Tensor:
    """Drop the padding holes of a transformers ``DynamicCache`` in place: every row's attended entries move to the
    right end, in order, and the columns that are then padding in every row are cut. Returns the mask ``[B, S']`` of
    the compacted cache. A new token attends to every cached entry the mask allows, whatever their order, and
    position ids are given explicitly, so the next forwards are unchanged (to float rounding). Other caches (static,
    sliding-window, quantized) are left as they are (the mask is returned unchanged)."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return cache_mask
    keep = int(cache_mask.sum(1).max())
    order = torch.sort(cache_mask, dim=1, stable=True).indices[:, -keep:]  # padding first, then the tokens in order
    for layer in layers:
        if layer.get_seq_length() == cache_mask.shape[1]:
            for name in ("keys", "values"):
                states = getattr(layer, name)
                index = order[:, None, :, None].expand(states.shape[0], states.shape[1], keep, states.shape[3])
                setattr(layer, name, states.gather(2, index))
    return cache_mask.gather(1, order)


def _inserted_block(
    input_ids: torch.Tensor, ends: torch.Tensor, counts: torch.Tensor, attended: torch.Tensor, task: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The next forward's block of an env that inserts tokens: every row's ``counts`` ``[B]`` new tokens (those
    before column ``ends`` ``[B]`` of the env's ``input_ids``), left-padded to the widest row (all padding in an
    ended episode), at positions continuing each row's ``attended`` ``[B]`` tokens. Returns ``block_ids``,
    ``positions`` and the block's attention mask (long), each ``[B, width]``."""
    width = int(counts.max())
    columns = torch.arange(width, device=input_ids.device)
    real = columns >= (width - counts).unsqueeze(1)  # [B, width]
    source = ends.unsqueeze(1) - width + columns
    block_ids = input_ids.gather(1, source.clamp(0, input_ids.shape[1] - 1)).masked_fill(~real, task.pad_token_id)
    real = real.long()
    return block_ids, attended.unsqueeze(1) + real.cumsum(1) - 1, real


def _prefill(
    policy: LMPolicy,
    query_ids: torch.Tensor,
    query_mask: torch.Tensor,
    cache: object,
    temperature: float,
    with_values: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, object]:
    """The rollout's first forward, of the prompts ``[B, Q]``: ``LMPolicy.next_token_logprobs``'s results. With the
    policy's ``share_prompt`` and a dynamic cache, each distinct prompt runs once and its cache, log-probs and value
    are expanded to the rows that hold it (agents/common/prefix_sharing.py); a static cache, preallocated for ``B``
    rows, prefills every row."""
    shared = None
    if policy.share_prompt and policy.rollout_cache == "dynamic":
        shared = shared_prompt_rows(query_ids, query_mask)
    if shared is None:
        positions = position_ids_from_mask(query_mask)
        return policy.next_token_logprobs(query_ids, query_mask, positions, cache, temperature, with_values)
    rows, inverse = shared
    mask = query_mask[rows]
    logprobs, values, cache = policy.next_token_logprobs(
        query_ids[rows], mask, position_ids_from_mask(mask), cache, temperature, with_values
    )
    cache.reorder_cache(inverse)
    return logprobs[inverse], None if values is None else values[inverse], cache


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
    """Run one batch of episodes of ``env`` (a TextGen vector env in ``DISABLED`` autoreset mode) to the end.

    With an env that restricts its vocabulary (``allowed_tokens``, ``mask_top_k``) every action is sampled from the
    policy's distribution renormalised over the env's mask of that step, and the log-probs (policy and reference)
    are under those masks (``RolloutBuffer.action_mask``); an unrestricted env makes no mask. With the policy's
    ``share_prompt`` the sub-envs that share a prompt (a group) prefill it once (agents/common/prefix_sharing.py).

    Args:
        policy: the acting policy; its log-probs ``[B, V]`` at ``temperature`` are sampled with ``generator``.
        env: the vector env (``TextGenVectorEnv``, or a chat vector env that inserts the user's turns); its
            ``num_envs`` is the batch size ``B``.
        prompt_index: int ``[B]``, the prompt of each sub-env (repeat an index to sample a group for it).
        with_values: record the value of each state (PPO); a separate critic is run once on the whole batch.
        ref_policy: the KL reference (a frozen ``agents.LMPolicy``, or a LoRA policy's
            ``agents.common.policy.AdapterDisabledReference``); when given, the reference log-probs of the sampled
            tokens are computed in one batched forward.
    """
    start_time = time.perf_counter()
    task = env.task
    P, N = task.max_prompt_tokens, task.max_new_tokens
    B = env.num_envs
    device = env.device
    obs, info = env.reset_tensors(options={"prompt_index": prompt_index})
    masks = RolloutMasks.of(env, info, N + 1)  # None: no vocabulary restriction
    input_ids, attention_mask = obs["input_ids"], obs["attention_mask"]
    inserts = "agent_mask" in obs  # the env may append tokens of its own after an action
    prompt_lengths = task.prompt_lengths[prompt_index]
    first = P - int(prompt_lengths.max())  # columns before `first` are padding in every row
    query_mask = attention_mask[:, first:P]

    record = TokenRecord(with_values, B, N, device)
    ones, zeros = torch.ones(B, device=device), torch.zeros(B, device=device)
    returns = torch.zeros(B, device=device)
    prompts, completions, reasons = [""] * B, [""] * B, [""] * B
    conversations: list[list[dict[str, str]] | None] = [None] * B
    shared_values = with_values and policy.critic is None
    tokens_before = env.num_tokens.clone()
    attended = query_mask.sum(1)
    cache_mask = query_mask  # the attention mask of the KV cache's columns

    if inserts and policy.rollout_cache != "dynamic":
        raise ValueError(
            f"rollout_cache={policy.rollout_cache!r} needs an env that writes only the agent's tokens (its cache is "
            "preallocated for prompt + max_new_tokens positions and cannot hold the blocks an env that inserts "
            "tokens needs); use rollout_cache='dynamic' with chat envs"
        )
    # The cache's length is fixed per task (not trimmed with `first`), so a static cache keeps its shapes.
    cache = policy.new_rollout_cache(B, task.seq_len)
    step_logprobs, step_values, cache = _prefill(
        policy, input_ids[:, first:P], query_mask, cache, temperature, shared_values
    )
    for _ in range(N):  # every step of a running episode writes at least one of its N tokens
        if masks is not None:
            step_logprobs = masks.apply(step_logprobs, tokens_before)
        actions = torch.multinomial(step_logprobs.exp(), 1, generator=generator)
        _, rewards, _, _, info = env.step_tensors(actions.squeeze(1))
        if masks is not None:
            masks.update(info)
        # The action is each row's first new token, at column tokens_before (an ended row: zeros after its tokens).
        counts = env.num_tokens - tokens_before  # new tokens per row: 0 for an ended episode
        record.record(
            tokens_before,
            counts > 0,
            logprobs=step_logprobs.gather(1, actions).squeeze(1),
            response_mask=ones,
            rewards=rewards,
            values=step_values if shared_values else zeros,
        )
        tokens_before = env.num_tokens.clone()
        returns += rewards
        if "_completion" in info:
            for row in np.flatnonzero(info["_completion"]):
                prompts[row], completions[row] = info["prompt"][row], info["completion"][row]
                reasons[row] = info["stop_reason"][row]
                if "conversation" in info:
                    conversations[row] = info["conversation"][row]
        if env.ended.all():
            break
        if inserts:
            block_ids, positions, real = _inserted_block(input_ids, P + env.num_tokens, counts, attended, task)
            attended = attended + counts
            if cache_mask.shape[1] > COMPACT_CACHE_RATIO * int(attended.max()):
                cache_mask = _compact_cache(cache, cache_mask)
            cache_mask = torch.cat([cache_mask, real], dim=1)
        else:  # the new token of a running row is its action (counts 1); an ended row's is masked out (counts 0)
            block_ids, positions = actions, attended.unsqueeze(1)
            attended = attended + counts
            cache_mask = torch.cat([cache_mask, counts.unsqueeze(1)], dim=1)
        step_logprobs, step_values, cache = policy.next_token_logprobs(
            block_ids, cache_mask, positions, cache, temperature, shared_values
        )

    # The buffer holds the env's final observation after the prompt: each conversation compact, without the holes.
    T = int(env.num_tokens.max())
    response_mask = record.channel("response_mask", T)
    buffer = RolloutBuffer(
        query_ids=input_ids[:, first:P].clone(),
        query_mask=query_mask.clone(),
        response_ids=input_ids[:, P : P + T].clone(),
        response_attention_mask=attention_mask[:, P : P + T].clone(),
        response_mask=response_mask,
        logprobs=record.channel("logprobs", T),
        values=record.channel("values", T) if with_values else None,
        ref_logprobs=None,
        rewards=record.channel("rewards", T),
        scores=returns,
        prompt_index=np.asarray(prompt_index).copy(),
        prompts=prompts,
        completions=completions,
        stop_reasons=reasons,
        conversations=conversations,
        num_tokens=int(response_mask.sum()),
        rollout_s=0.0,
        action_mask=None if masks is None else masks.stored(T),
    )
    sequence_ids, sequence_mask, response_start = buffer.sequences()
    if with_values and not shared_values:
        _, critic_values = policy(sequence_ids, sequence_mask, response_start, temperature, True)
        buffer.values = critic_values * response_mask
    buffer.rollout_s = time.perf_counter() - start_time
    if ref_policy is not None:
        ref_logprobs, _ = ref_policy(
            sequence_ids, sequence_mask, response_start, temperature, action_mask=buffer.action_mask
        )
        buffer.ref_logprobs = torch.where(response_mask > 0, ref_logprobs, 0.0)
    return buffer
