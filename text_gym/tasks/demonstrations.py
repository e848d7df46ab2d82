"""Demonstrations from the tasks' own rules, for supervised fine-tuning: conversations in the standard ``messages``
format (the conversational format of TRL and the hub datasets), from the ``train`` split only.

- ``TextGenSupport-v0``: the scripted support agent (``text_gym.tasks.support.SupportAgent``) played against the
  scripted customer through the env itself, token by token, so every message is what the env renders.
- ``TextGenArithmetic-v0``: worked answers ending in ``\\boxed{answer}`` (``worked_answers``), the most detailed
  one that fits the env's completion budget.
- ``TextGenInstruct-v0``: answers built to meet the prompt's constraints (``constrained_answer``) within the
  budget; prompts whose constraints the builder cannot meet are passed over.

``imperfect`` makes a fraction of them deliberately imperfect: a skipped required fact or a premature next step
(support), a wrong final answer (arithmetic), one missed constraint (instruct).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from reward_models import call_reward, make_reward_model
from reward_models.common import check_positive_int, load_tokenizer
from text_gym.tasks.arithmetic import worked_answers
from text_gym.tasks.instruct import constrained_answer
from text_gym.tasks.suite import TASKS, gold_reward_spec, task_prompts
from text_gym.tasks.support import SUPPORT_IMPERFECTIONS, SupportAgent, support_rows

IMPERFECTIONS: dict[str, tuple[str, ...]] = {
    "TextGenSupport-v0": SUPPORT_IMPERFECTIONS,
    "TextGenArithmetic-v0": ("wrong_answer",),
    "TextGenInstruct-v0": ("missed_constraint",),
}
"""The env ids ``task_demonstrations`` supports and the kinds of imperfect demonstration of each."""
DEMONSTRATION_ENV_IDS = tuple(IMPERFECTIONS)
Maker = Callable[[int, int, str | None], tuple[list[dict[str, str]], int, dict[str, Any]]]
"""``make(number, seed, imperfection) -> (messages, row, the row's fields)``: one demonstration of a task."""
_MAX_DRAWS = 20
"""Problem numbers drawn per procedural demonstration before giving up."""


def check_demonstration_arguments(env_id: str, count: int, seed: int, imperfect: float) -> None:
    """``ValueError`` naming the argument when ``env_id`` has no expert (not in ``DEMONSTRATION_ENV_IDS``),
    ``count`` < 1, ``seed`` is not an integer >= 0, or ``imperfect`` lies outside [0, 1]."""
    if env_id not in IMPERFECTIONS:
        raise ValueError(f"env_id must be one of {list(DEMONSTRATION_ENV_IDS)} (tasks with an expert), got {env_id!r}")
    check_positive_int("count", count)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(imperfect, bool) or not isinstance(imperfect, (int, float)) or not 0.0 <= imperfect <= 1.0:
        raise ValueError(f"imperfect must be a fraction in [0, 1], got {imperfect!r}")


def task_demonstrations(
    env_id: str,
    count: int,
    seed: int,
    imperfect: float = 0.0,
    tokenizer: str | os.PathLike | Any = "smollm2",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """``count`` demonstrations of ``env_id`` from its ``train`` split; deterministic in all arguments.

    Each is ``{"messages": [{"role", "content"}, ...], "env_id", "row", "imperfection", "gold"}``: the
    conversation (system message if the env has one, user, assistant, ...), the train row (the index of the support
    row in ``support_rows("train")``; the problem number of a procedural task's train source), ``None`` or the kind
    of imperfection (``IMPERFECTIONS``), and the task's gold metric of the demonstration (1.0 for a perfect one,
    0.0 for an imperfect one).

    Args:
        env_id: one of ``DEMONSTRATION_ENV_IDS``.
        count: demonstrations (>= 1).
        seed: draws the rows, the wording and which demonstrations are imperfect (integer >= 0).
        imperfect: the fraction of imperfect demonstrations, in [0, 1] (``round(imperfect * count)`` of them).
        tokenizer: the env's tokenizer (name, folder or object; default the packaged SmolLM2 one): support turns
            are played as its tokens, and the procedural answers fit the env's ``max_new_tokens`` in it.
        progress: show a progress bar.

    Raises:
        ValueError: an unsupported ``env_id``, ``count`` < 1, a negative ``seed``, ``imperfect`` outside [0, 1].
    """
    check_demonstration_arguments(env_id, count, seed, imperfect)
    from tqdm.auto import tqdm

    tokenizer = load_tokenizer(tokenizer)
    kinds = IMPERFECTIONS[env_id]
    picker = np.random.default_rng([seed, 1])
    imperfect_at = set(picker.choice(count, size=round(imperfect * count), replace=False).tolist())
    kind_of = [kinds[int(picker.integers(len(kinds)))] if k in imperfect_at else None for k in range(count)]
    make = _support_maker(tokenizer) if env_id == "TextGenSupport-v0" else _procedural_maker(env_id, tokenizer)
    gold = make_reward_model(gold_reward_spec(env_id))
    demonstrations = []
    for number, kind in enumerate(tqdm(kind_of, desc=f"demonstrations {env_id}", unit="demo", disable=not progress)):
        messages, row, fields = make(number, seed, kind)
        demonstrations.append(
            {
                "messages": messages,
                "env_id": env_id,
                "row": row,
                "imperfection": kind,
                "gold": _gold(gold, messages, fields),
            }
        )
    return demonstrations


def _gold(gold: Any, messages: list[dict[str, str]], fields: dict[str, Any]) -> float:
    """The gold metric of one demonstration, from its conversation and its row's fields."""
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    columns = {name: [value] for name, value in fields.items()} | {"conversations": [messages]}
    return float(call_reward(gold, [prompt], [messages[-1]["content"]], columns)[0])


def _support_maker(tokenizer: Any) -> Maker:
    """Demonstration ``number`` of the support desk: ``SupportAgent`` against the scripted customer in the env."""
    import gymnasium as gym

    rows = support_rows("train")
    env = gym.make("TextGenSupport-v0", tokenizer=tokenizer)
    chat = env.unwrapped
    orders: dict[int, np.ndarray] = {}

    def make(number: int, seed: int, kind: str | None) -> tuple[list[dict[str, str]], int, dict[str, Any]]:
        cycle, position = divmod(number, len(rows))  # every train row once per cycle, in an order per cycle
        order = orders.setdefault(cycle, np.random.default_rng([seed, 2, cycle]).permutation(len(rows)))
        index = int(order[position])
        agent = SupportAgent(rows[index], np.random.default_rng([seed, 3, number]), kind)
        obs, info = env.reset(options={"prompt_index": index})
        terminated = truncated = False
        while not (terminated or truncated):
            turn = agent(tokenizer.decode(obs["input_ids"][obs["attention_mask"] == 1]))
            actions = [*tokenizer(turn, add_special_tokens=False)["input_ids"], chat.end_of_turn_id]
            if len(actions) > chat.settings.max_turn_tokens:
                raise ValueError(
                    f"the support agent's turn {turn!r} is {len(actions)} tokens with the end-of-turn token in "
                    f"tokenizer {getattr(tokenizer, 'name_or_path', tokenizer)!r}, over the env's "
                    f"max_turn_tokens={chat.settings.max_turn_tokens}"
                )
            for action in actions:
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
        fields = {name: rows[index][name] for name in rows[index] if name != "prompt"}
        return info["conversation"], index, fields

    return make


def _procedural_maker(env_id: str, tokenizer: Any) -> Maker:
    """Demonstration ``number`` of a procedural task: a train problem and the expert's answer."""
    source = task_prompts(env_id, "train")
    budget = TASKS[env_id].max_new_tokens - 1  # room for the end-of-turn token
    system = [{"role": "system", "content": TASKS[env_id].system_prompt}] if TASKS[env_id].system_prompt else []

    def fits(text: str) -> bool:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= budget

    def answer(row: dict[str, Any], rng: np.random.Generator, kind: str | None) -> str | None:
        if env_id == "TextGenArithmetic-v0":
            final = row["answer"] + int(rng.choice([-2, -1, 1, 2])) if kind else None
            answers = worked_answers(row["prompt"], final)
            return next((text for text in answers if fits(text)), answers[-1])
        missed = [int(i) for i in rng.permutation(len(row["constraints"]))] if kind else [None]
        return next((text for m in missed if (text := constrained_answer(row, rng, m, fits)) is not None), None)

    def make(number: int, seed: int, kind: str | None) -> tuple[list[dict[str, str]], int, dict[str, Any]]:
        rng = np.random.default_rng([seed, 4, number])
        for _ in range(_MAX_DRAWS):
            problem = int(rng.integers(len(source)))
            row = source.row(problem)
            text = answer(row, rng, kind)
            if text is not None:
                messages = [*system, {"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": text}]
                fields = {name: row[name] for name in source.field_names}
                return messages, problem, fields
        raise RuntimeError(
            f"{env_id}: no answer found for {_MAX_DRAWS} train problems in a row (demonstration {number})"
        )

    return make
