"""Preference data on conversations: the next agent turn of conversations played through a chat env, sampled from a
policy, for a gold labeller (``label_conversations``, ``text-gym reward label --env``) or a person (``text-gym label
serve --env``).

Each conversation (deterministic in ``seed``): reset the env on the prompt ``j % num_prompts`` with seed
``seed + j``; draw the number of agent turns to play before the labelled one uniformly from ``[0, max_turns)``; play
them with the policy (sampled turns, stepped token by token, the other side's turns from the env's user); then sample
``k`` candidate turns from the same context. If the episode ends while a turn is played, the labelled turn is that
one (its context is the conversation before it). Candidate turns stop where the env ends a turn (its end-of-turn or
an EOS token, or ``max_turn_tokens``) and are decoded as the env decodes a turn, so each is the ``turn_text`` the
env would score in that context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from reward_models import Conversation, RewardFn, as_conversation, check_scores, rank_pairs
from reward_models.common.quiet import padding_warning_silenced
from reward_models.human.items import Candidates
from reward_models.preferences.pairs import PreferenceWriter
from text_gym.chat.env import TextGenChatEnv
from text_gym.chat.vector import is_chat_env


def _no_reward(prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
    """Zeros: the played turns of the labelling page need no reward."""
    return np.zeros(len(completions))


def labelling_env(
    env_id: str,
    tokenizer: Any,
    max_turn_tokens: int,
    reward_model: str | RewardFn | None = None,
    prompts: Sequence[str] | None = None,
) -> TextGenChatEnv:
    """The chat env ``env_id`` to label turns in: the policy's ``tokenizer``, ``max_turn_tokens`` agent tokens per
    turn, ``reward_model`` (the gold labeller; None: no reward) and ``prompts`` (None: the env's own).

    Raises:
        ValueError: ``env_id`` is not a registered id, or not a chat env.
    """
    import gymnasium as gym

    if not is_chat_env(env_id):
        raise ValueError(f"env {env_id!r} is not a chat env (TextGenChat-v0, TextGenSupport-v0 or one built like them)")
    options = {} if prompts is None else {"prompts": list(prompts)}
    return gym.make(
        env_id,
        tokenizer=tokenizer,
        reward_model=_no_reward if reward_model is None else reward_model,
        max_turn_tokens=max_turn_tokens,
        **options,
    ).unwrapped


@dataclass(frozen=True)
class TurnCandidates:
    """Candidate next agent turns of one conversation.

    Attributes:
        conversation: the conversation so far, ending with a user turn.
        context: the text the env scores a turn in (the chat-template render of ``conversation`` with the
            generation prompt).
        prompt_index: the env prompt row the conversation started from (its per-prompt fields).
        completions: the candidate turns' texts, distinct, in sampling order.
    """

    conversation: Conversation
    context: str
    prompt_index: int
    completions: tuple[str, ...]


def _context_ids(env: TextGenChatEnv, observation: dict[str, np.ndarray]) -> torch.Tensor:
    """The context tokens of an observation (padding dropped), ``[1, seq]``."""
    ids = observation["input_ids"][observation["attention_mask"] == 1]
    return torch.as_tensor(ids, dtype=torch.long).unsqueeze(0)


@torch.inference_mode()
def _sample_turns(
    model: torch.nn.Module, env: TextGenChatEnv, context: torch.Tensor, count: int, temperature: float, top_p: float
) -> list[list[int]]:
    """``count`` sampled agent turns after ``context``: their token ids up to and including the token that ends the
    turn (end-of-turn or EOS), or ``max_turn_tokens`` ids."""
    task = env.task
    stops = [env.end_of_turn_id, *task.eos_token_ids]
    device = next(model.parameters()).device
    budget = min(env.vector_env.max_turn_tokens, task.max_new_tokens - int(context.shape[1] - task.max_prompt_tokens))
    with padding_warning_silenced():
        output = model.generate(
            input_ids=context.repeat(count, 1).to(device),
            attention_mask=torch.ones((count, context.shape[1]), dtype=torch.long, device=device),
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            max_new_tokens=max(1, budget),
            eos_token_id=stops,
            pad_token_id=task.pad_token_id,
        )
    turns = []
    for row in output[:, context.shape[1] :].tolist():
        end = next((i for i, token in enumerate(row) if token in stops), None)
        turns.append(row if end is None else row[: end + 1])
    return turns


def _turn_text(env: TextGenChatEnv, ids: Sequence[int]) -> str:
    """A turn's text as the env decodes it (the ending end-of-turn/EOS token left out, special tokens skipped)."""
    stops = {env.end_of_turn_id, *env.task.eos_token_ids}
    return env.task.decode(list(ids[:-1]) if ids and ids[-1] in stops else list(ids))


def sample_turn_candidates(
    env: TextGenChatEnv,
    model: torch.nn.Module,
    num_conversations: int,
    completions_per_turn: int = 4,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
) -> list[TurnCandidates]:
    """Play ``num_conversations`` conversations through ``env`` with ``model`` (a causal LM over the env's tokens)
    and sample ``completions_per_turn`` candidate turns at a random turn of each (see the module docstring).

    Raises:
        ValueError: ``num_conversations`` or ``completions_per_turn`` < 1.
    """
    if num_conversations < 1 or completions_per_turn < 1:
        raise ValueError(
            f"num_conversations and completions_per_turn must be >= 1, got {num_conversations} and "
            f"{completions_per_turn}"
        )
    num_prompts = len(env.task.prompts)
    result = []
    for index in tqdm(range(num_conversations), desc="playing conversations", unit="conv"):
        torch.manual_seed(seed + index)
        observation, info = env.reset(seed=seed + index, options={"prompt_index": index % num_prompts})
        played = int(np.random.default_rng(seed + index).integers(0, env.vector_env.max_turns))
        conversation, context = env.conversation, _context_ids(env, observation)
        for _ in range(played):
            ended = False
            for token in _sample_turns(model, env, context, 1, temperature, top_p)[0]:
                observation, _, terminated, truncated, info = env.step(token)
                ended = terminated or truncated
                if ended or info["turn_end"]:
                    break
            if ended:
                break
            conversation, context = env.conversation, _context_ids(env, observation)
        turns = _sample_turns(model, env, context, completions_per_turn, temperature, top_p)
        texts = tuple(dict.fromkeys(_turn_text(env, ids) for ids in turns))
        render = env.vector_env.template.render(conversation, add_generation_prompt=True)
        result.append(TurnCandidates(as_conversation(conversation), render, int(info["prompt_index"]), texts))
    return result


def conversation_candidates(
    env: TextGenChatEnv,
    model: torch.nn.Module,
    num_conversations: int,
    completions_per_turn: int = 4,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
) -> list[Candidates]:
    """``sample_turn_candidates`` as the labelling page's ``Candidates`` (the conversation as the prompt)."""
    sampled = sample_turn_candidates(env, model, num_conversations, completions_per_turn, temperature, top_p, seed)
    return [Candidates(entry.conversation, entry.completions) for entry in sampled]


def label_conversations(env: TextGenChatEnv, model: torch.nn.Module, config, num_conversations: int) -> int:
    """Sample candidate turns (``sample_turn_candidates``), score them with ``env``'s reward model as the env scores
    a turn (the context text, the turn text and the prompt row's fields: the env is built with the gold labeller as
    its ``reward_model``), and append every pair of them whose scores differ by more than ``config.min_gold_gap`` to
    ``config.output`` as conversation pairs. Returns the number of rows written.

    Args:
        env: the chat env, its ``reward_model`` the gold labeller.
        model: the policy, a causal LM over the env's tokens.
        config: a ``reward_models.LabelConfig`` (``output``, ``completions_per_prompt``, ``temperature``,
            ``top_p``, ``min_gold_gap``, ``write_margin``, ``seed``).
        num_conversations: conversations played (one labelled turn each).
    """
    candidates = sample_turn_candidates(
        env,
        model,
        num_conversations,
        config.completions_per_prompt,
        config.temperature,
        config.top_p,
        config.seed,
    )
    written = 0
    with PreferenceWriter(config.output) as writer:
        for entry in candidates:
            k = len(entry.completions)
            scores = env.task.score([entry.prompt_index] * k, list(entry.completions), prompts=[entry.context] * k)
            scores = check_scores(scores, k, source=f"gold {config.gold!r}")
            pairs = rank_pairs(entry.conversation, entry.completions, scores, config.min_gold_gap, config.write_margin)
            writer.write_all(pairs)
            written += len(pairs)
    return written
