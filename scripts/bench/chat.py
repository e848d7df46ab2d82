"""The chat env's cost in ``text-gym bench env``: env time per agent token and memory as conversations grow, and
stock SB3 PPO's cost per agent token on the chat env against our PPO's.

**Env alone** (``chat_env_rows``): ``TextGenSupport-v0``'s settings (the scripted customer, the per-turn proxy
``SupportTurnReward``, the conversation reward ``support_success``, the desk's system prompt) with the customer's
patience out of reach, so every conversation runs its ``max_turns`` agent turns. The agent's tokens are fixed (no
policy LM): each turn is ``turn_tokens - 1`` tokens of one sentence that asks nothing the customer can answer, then
the template's end-of-turn token, so every turn ends the same way and the customer answers it. Per agent token the
figure is the time of ``step_tensors`` (writing the token, the turn checks; at a turn's end decoding it, scoring it,
the customer's reply and its tokens; at the episode's end the conversation reward and the episode info) divided by
the agent tokens stepped. Memory: the env's token buffers (``input_ids``, ``attention_mask``, ``agent_mask``,
preallocated ``[B, max_prompt_tokens + max_new_tokens]``) and the peak of Python allocations over one batch of
episodes (``tracemalloc``, in a separate untimed pass: tracing slows every allocation).

**SB3 vs ours** (``chat_agent_rows``): one case per fresh process (scripts/bench/runner.py; peak memory as
scripts/bench/memory.py measures it) trains ``iterations`` iterations on ``TextGenSupport-v0`` (``agent_turns``
turns of ``agent_turn_tokens`` tokens, patience as the rows set it) with the same policy, PPO settings and no KL
penalty (``kl_coef=0``, no reference on either side): ``ours`` is ``agents.PPO`` (KV-cached rollout, one training
forward per episode), ``sb3`` is ``stable_baselines3.PPO`` with ``agents.sb3.LMActorCriticPolicy`` on
``agents.sb3.SB3VecEnv`` (every step a forward of the whole observation, ``max_prompt_tokens + max_new_tokens``
positions, and PPO re-runs it for every stored step). The figure is seconds per agent token over the timed
iterations (the first is a warm-up).
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from scripts.bench.measure import measure_training
from scripts.bench.phases import PhaseClock
from scripts.bench.runner import run_in_fresh_process

AGENT_SENTENCE = "Thank you for writing to us today, I am looking into this for you right now."
"""The fixed agent turn of the env-alone timing (repeated to the turn's length): no question, no fact asked for and
no solution, so the customer nudges and the conversation goes on."""
REPLY_TOKENS = 48
"""Context slots per turn reserved for the customer's reply and the template's tokens around it (the customer's
longest nudge and the role markers are well under this with SmolLM2's tokenizer)."""
AGENT_CASES = ("ours", "sb3")
NO_PATIENCE = 1_000_000
"""The rows' ``patience`` in the env-alone timing: more agent turns than any conversation has."""
SUPPORT_PROMPT_TOKENS = 96
"""``TextGenSupport-v0``'s ``max_prompt_tokens``."""


def chat_context_length(turns: int, turn_tokens: int) -> int:
    """Token slots of a ``chat_env_kwargs`` env: ``max_prompt_tokens + max_new_tokens``."""
    return SUPPORT_PROMPT_TOKENS + turns * (turn_tokens + REPLY_TOKENS)


def chat_env_kwargs(tokenizer: Any, turns: int, turn_tokens: int, patience: bool = False) -> dict[str, Any]:
    """``TextGenSupport-v0``'s settings (``text_gym.tasks.support.support_defaults``) for conversations of ``turns``
    agent turns of ``turn_tokens`` tokens: ``max_new_tokens`` fits them and the customer's replies; without
    ``patience`` every row's ``patience`` is ``NO_PATIENCE`` (the customer never gives up)."""
    from text_gym import support_rows
    from text_gym.chat.users import ScriptedUser
    from text_gym.tasks.support import support_defaults

    rows = support_rows("train")
    if not patience:
        rows = [{**row, "patience": NO_PATIENCE} for row in rows]
    return support_defaults(
        tokenizer=tokenizer,
        prompts=rows,
        user=ScriptedUser(),
        max_turns=turns,
        max_turn_tokens=turn_tokens,
        max_prompt_tokens=SUPPORT_PROMPT_TOKENS,
        max_new_tokens=chat_context_length(turns, turn_tokens) - SUPPORT_PROMPT_TOKENS,
    )


def _agent_turn(env: Any, turn_tokens: int) -> list[int]:
    """The fixed agent turn: ``turn_tokens - 1`` tokens of ``AGENT_SENTENCE`` (repeated as needed), then the
    end-of-turn token."""
    ids = env.task.tokenizer(AGENT_SENTENCE, add_special_tokens=False)["input_ids"]
    words = (ids * (turn_tokens // len(ids) + 1))[: turn_tokens - 1]
    return [*words, env.end_of_turn_id]


def _run_episodes(env: Any, turn: list[int], turns: int) -> int:
    """One batch of episodes of the fixed agent turns to their end; returns the agent tokens stepped."""
    import numpy as np
    import torch

    B = env.num_envs
    env.reset_tensors(options={"prompt_index": np.arange(B) % len(env.task.prompts)})
    actions = [torch.full((B,), token, dtype=torch.long) for token in turn]
    steps = 0
    for _ in range(turns):
        for action in actions:
            info = env.step_tensors(action)[-1]
            steps += 1
    reasons = set(info["stop_reason"][info["_stop_reason"]]) if env.ended.all() else set()
    if reasons != {"max_turns"}:
        raise RuntimeError(
            f"the chat env's episodes did not all end at max_turns={turns} after {turns} turns of {len(turn)} tokens "
            f"(stop reasons {sorted(reasons)}); the context or the turns are too short for the customer's replies"
        )
    return steps * B


def chat_env_rows(
    tokenizer: Any, turns: list[int], batch_sizes: list[int], turn_tokens: int, tokens: int, device: str = "cpu"
) -> list[dict[str, Any]]:
    """Env-alone rows, one per (turns, batch): ``env_us_per_token`` (microseconds of ``step_tensors`` per agent
    token, over whole episodes, at least ``tokens`` agent tokens and 2 batches of episodes), ``growth`` (that
    figure over the same batch's at the fewest turns), ``buffer_kib`` (the env's token buffers) and
    ``python_peak_kib`` (peak Python allocations over one batch of episodes, above the start)."""
    from gymnasium.vector import AutoresetMode
    from tqdm import tqdm

    from text_gym.chat.vector import TextGenChatVectorEnv

    rows = []
    for batch in batch_sizes:
        for count in sorted(turns):
            env = TextGenChatVectorEnv(
                batch,
                device=device,
                autoreset_mode=AutoresetMode.DISABLED,
                **chat_env_kwargs(tokenizer, count, turn_tokens),
            )
            turn = _agent_turn(env, turn_tokens)
            per_batch = batch * count * turn_tokens
            repeats = max(2, -(-tokens // per_batch))
            _run_episodes(env, turn, count)  # warm-up (tokenizer and template caches)
            stepped, seconds = 0, 0.0
            for _ in tqdm(range(repeats), desc=f"chat env B={batch} turns={count}", leave=False):
                start = time.perf_counter()
                stepped += _run_episodes(env, turn, count)
                seconds += time.perf_counter() - start
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            _run_episodes(env, turn, count)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            buffers = (env.input_ids, env.attention_mask, env.agent_mask)
            rows.append(
                {
                    "env": "TextGenChatVectorEnv (support, scripted customer)",
                    "batch": batch,
                    "turns": count,
                    "turn_tokens": turn_tokens,
                    "agent_tokens": stepped,
                    "seconds": seconds,
                    "env_us_per_token": 1e6 * seconds / stepped,
                    "buffer_kib": sum(b.numel() * b.element_size() for b in buffers) / 1024,
                    "python_peak_kib": (peak - base) / 1024,
                }
            )
    for row in rows:
        first = min((r for r in rows if r["batch"] == row["batch"]), key=lambda r: r["turns"])
        row["growth"] = row["env_us_per_token"] / first["env_us_per_token"]
    return rows


@dataclass
class ChatAgentSettings:
    """One SB3-vs-ours chat case: the policy folder, ``batch`` conversations per iteration of at most ``turns``
    agent turns of at most ``turn_tokens`` tokens, ``iterations`` iterations (the first a warm-up), ``n_epochs`` PPO
    epochs in minibatches of ``minibatch_size`` conversations (SB3: that many sub-envs' steps), AdamW at
    ``learning_rate``, on ``device`` with ``threads`` torch threads (None: torch's default)."""

    policy_dir: str
    batch: int = 4
    turns: int = 2
    turn_tokens: int = 16
    iterations: int = 3
    n_epochs: int = 1
    minibatch_size: int = 4
    learning_rate: float = 1e-6
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None


def _support_kwargs(s: ChatAgentSettings) -> dict[str, Any]:
    from reward_models.common import load_tokenizer

    kwargs = chat_env_kwargs(load_tokenizer(s.policy_dir), s.turns, s.turn_tokens, patience=True)
    return {key: kwargs[key] for key in ("tokenizer", "max_turns", "max_turn_tokens", "max_new_tokens")}


def _train_ours(s: ChatAgentSettings, clock: PhaseClock, tokens: list[int]) -> None:
    from agents import PPO

    agent = PPO(
        s.policy_dir,
        "TextGenSupport-v0",
        env_kwargs=_support_kwargs(s),
        n_envs=s.batch,
        n_epochs=s.n_epochs,
        minibatch_size=s.minibatch_size,
        learning_rate=s.learning_rate,
        kl_coef=0.0,
        seed=s.seed,
        device=s.device,
    )
    callback = clock.sb3_callback()
    for _ in range(s.iterations):  # one update per learn call (its target is one token past the count)
        before = agent.num_timesteps
        agent.learn(before + 1, callback=callback, progress_bar=False, reset_num_timesteps=False)
        tokens.append(agent.num_timesteps - before)


def _train_sb3(s: ChatAgentSettings, clock: PhaseClock, tokens: list[int]) -> None:
    import torch

    from agents.sb3 import SB3VecEnv
    from scripts.bench.iteration import matched_sb3_ppo

    torch.manual_seed(s.seed)
    env = SB3VecEnv("TextGenSupport-v0", num_envs=s.batch, device=s.device, **_support_kwargs(s))
    n_steps = s.turns * s.turn_tokens  # at most one conversation's agent tokens per sub-env and iteration
    model = matched_sb3_ppo(env, n_steps, s)
    model.learn(n_steps * s.batch * s.iterations, callback=clock.sb3_callback())
    tokens.extend([n_steps * s.batch] * s.iterations)


def run_chat_agent_case(case: str, settings: ChatAgentSettings) -> dict[str, Any]:
    """Train ``settings.iterations`` iterations of ``case`` (``ours`` or ``sb3``) in this process: per-iteration
    times and agent tokens, ``s_per_token`` over the iterations after the first, and peak memory."""
    import importlib

    if case not in AGENT_CASES:
        raise ValueError(f"case must be one of {AGENT_CASES}, got {case!r}")
    for module in ("agents", "agents.sb3", "text_gym", "stable_baselines3"):
        importlib.import_module(module)
    tokens: list[int] = []
    train = _train_ours if case == "ours" else _train_sb3
    row = measure_training(
        lambda clock: train(settings, clock, tokens), settings.iterations, settings.device, settings.threads
    )
    timed_s, timed_tokens = sum(row["iteration_s"][1:]), sum(tokens[1:])
    return {"case": case, **row, "tokens": tokens, "s_per_token": timed_s / max(timed_tokens, 1)}


def chat_agent_rows(cases: list[str], settings: ChatAgentSettings) -> list[dict[str, Any]]:
    """``run_chat_agent_case`` of each case in a fresh process (scripts/bench/runner.py); each row also has
    ``vs_ours`` (its seconds per token over ``ours``', when ``ours`` ran)."""
    rows = [run_in_fresh_process(run_chat_agent_case, case, settings) for case in cases]
    ours = next((r for r in rows if r["case"] == "ours"), None)
    for row in rows:
        row["vs_ours"] = None if ours is None else row["s_per_token"] / ours["s_per_token"]
    return rows
