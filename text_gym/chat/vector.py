"""TextGenChatVectorEnv: ``num_envs`` multi-turn conversations stepped together, one agent token per step."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from reward_models import RewardFn
from text_gym.chat.settings import ConversationReward, TextGenChatSettings
from text_gym.chat.template import ChatTemplate
from text_gym.chat.users import Message, SimulatedUser
from text_gym.envs.checks import check_can_step
from text_gym.envs.episode import check_rewards, load_settings_tokenizer
from text_gym.envs.masking import check_allowed
from text_gym.envs.rendering import Parts
from text_gym.envs.vector import TextGenVectorEnv

CHAT_EPISODE_INFO_DTYPES = {
    "prompt": object,
    "completion": object,
    "conversation": object,
    "score": np.float64,
    "prompt_index": np.int64,
    "num_tokens": np.int64,
    "num_turns": np.int64,
    "stop_reason": object,
}
"""Episode info keys of the chat envs and the dtypes of their ``[B]`` arrays: ``prompt``, ``prompt_index``,
``num_tokens``, ``num_turns`` on every reset and step, the others on the step that ends an episode."""
CHAT_TURN_INFO_DTYPES = {"turn": np.int64, "turn_reward": np.float64, "turn_text": object, "turn_end": object}
"""Turn info keys (set on the step that ends an agent turn)."""
STOP_REASONS = ("max_turns", "user_ended", "context_full")
TURN_ENDS = ("end_of_turn", "eos", "max_turn_tokens", "context_full")


def _name_of(thing: object) -> str:
    return getattr(thing, "__name__", None) or type(thing).__name__


def resolve_user(user: str | SimulatedUser | None) -> tuple[SimulatedUser | None, str]:
    """``user`` (checked by ``TextGenChatSettings``) as a callable and a name for error messages; a string is
    resolved by ``text_gym.chat.users.make_user``."""
    if user is None:
        return None, "None"
    if isinstance(user, str):
        from text_gym.chat.users import make_user

        return make_user(user), repr(user)
    return user, _name_of(user)


def _fields_taken(fn: object) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The field names ``fn(conversations, **fields)`` accepts (None: all) and the ones it requires."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return frozenset(), frozenset()
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    accepted = None if any(p.kind is p.VAR_KEYWORD for p in parameters) else frozenset(p.name for p in named)
    return accepted, frozenset(p.name for p in named if p.default is p.empty)


@dataclass
class _StepPlan:
    """What one step does (see ``TextGenChatVectorEnv._plan``); row-keyed dicts hold the rows whose turn ends."""

    turn_end: np.ndarray
    """str ``[B]``: why each sub-env's agent turn ends on this step (one of ``TURN_ENDS``), ``""`` if it does not."""
    ended_turns: list[int] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    """The text of each ending turn (special tokens skipped, the end-of-turn / EOS token left out)."""
    conversations: dict[int, list[Message]] = field(default_factory=dict)
    """Each conversation after this step: with the ending turn and, if it goes on, the user's reply."""
    inserted: dict[int, list[int]] = field(default_factory=dict)
    """The token ids the env writes after the action: an end-of-turn token, the reply and the generation prompt."""
    stop: dict[int, str] = field(default_factory=dict)
    """Why each episode that ends on this step ends (one of ``STOP_REASONS``)."""
    rewards: np.ndarray | None = None
    turn_rewards: np.ndarray | None = None

    @property
    def ended_rows(self) -> list[int]:
        return sorted(self.stop)


class TextGenChatVectorEnv(TextGenVectorEnv):
    """``num_envs`` copies of ``text_gym.TextGenChatEnv`` in one batch (see there for the episode, rewards and
    arguments), token buffers in torch tensors on ``device``, autoreset like ``text_gym.TextGenVectorEnv``
    (``NEXT_STEP``, ``SAME_STEP``, ``DISABLED``), with the same seeding: ``reset(seed=s)`` gives sub-env ``i`` the
    episodes of a ``TextGenChatEnv`` reset with ``seed=s + i``.

    Tensor API (for KV-cached agents): ``reset_tensors`` and ``step_tensors`` return the live device buffers
    ``{"input_ids", "attention_mask", "agent_mask"}`` ``[B, L]``; ``num_tokens`` (long ``[B]``) counts the tokens
    after the first prompt, inserted ones included, so after a step row ``i``'s new tokens are at
    ``[P + old_num_tokens[i], P + num_tokens[i])`` with ``P = task.max_prompt_tokens``: the first is the action, the
    rest (the end-of-turn token the env adds, the user's turn, the generation prompt) are env-inserted.
    ``ended`` (host bool ``[B]``) says which episodes ended. Rewards are float32 ``[B]``.

    Per step: one host sync of the ``B`` actions (two with a vocabulary restriction). On a step where turns end,
    the ended turns are decoded and scored in **one** reward-model call, the user is called **once** for every
    conversation that continues, and the conversation reward once for every conversation that ends.

    A step that raises (a bad or masked action, a user or reward that raises or returns junk) changes nothing: no
    token is written, no pending autoreset runs; the same step can be retried.

    Info: Gymnasium's vector format, ``info[key]`` ``[B]`` with a boolean ``info["_" + key]`` mask, every key of
    ``CHAT_EPISODE_INFO_DTYPES`` and ``CHAT_TURN_INFO_DTYPES`` on every ``reset``/``step`` (unmasked entries ``""``
    or 0). ``prompt``, ``prompt_index``, ``num_tokens`` and ``num_turns`` are marked for the sub-envs that were
    reset or took the step's action; ``completion``, ``conversation``, ``score`` and ``stop_reason`` for those whose
    episode ended; the turn keys for those whose agent turn ended. Per-prompt fields as in ``TextGenVectorEnv``.
    With ``SAME_STEP``, ``info["final_obs"]`` and ``info["final_info"]`` as there.
    """

    info_dtypes: ClassVar[dict[str, type]] = {**CHAT_EPISODE_INFO_DTYPES, **CHAT_TURN_INFO_DTYPES}
    settings_class = TextGenChatSettings

    def __init__(
        self,
        num_envs: int = 1,
        tokenizer: str | os.PathLike | object | None = None,
        reward_model: str | RewardFn | None = None,
        prompts: Any = None,
        user: str | SimulatedUser | None = None,
        max_turns: int = 3,
        max_turn_tokens: int | None = None,
        max_new_tokens: int = 256,
        max_prompt_tokens: int = 128,
        system_prompt: str | None = None,
        conversation_reward: ConversationReward | None = None,
        render_mode: str | None = None,
        text_info: bool = True,
        device: str | torch.device = "cpu",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        **task_options: Any,
    ) -> None:
        settings = TextGenChatSettings(
            num_envs=num_envs,
            tokenizer=tokenizer,
            reward_model=reward_model,
            prompts=prompts,
            user=user,
            max_turns=max_turns,
            max_turn_tokens=max_turn_tokens,
            max_new_tokens=max_new_tokens,
            max_prompt_tokens=max_prompt_tokens,
            system_prompt=system_prompt,
            conversation_reward=conversation_reward,
            render_mode=render_mode,
            text_info=text_info,
            device=device,
            autoreset_mode=autoreset_mode,
            **task_options,
        )
        self._setup(settings, source=None)

    def _setup(self, settings: TextGenChatSettings, source: Any) -> None:
        """The chat template, the vector env's setup, then the user (``source``'s, when given) and the chat
        buffers."""
        tokenizer = load_settings_tokenizer(settings) if source is None else source.task.tokenizer
        self.template = ChatTemplate(tokenizer)  # checked before the prompts are rendered with it
        super()._setup(settings, source, tokenizer)
        task = self.task
        if source is None:
            self.user, self.user_name = resolve_user(settings.user)
        else:
            self.user, self.user_name = source.user, source.user_name
        clashes = sorted(set(task.field_names) & set(self.info_dtypes))
        if clashes:
            raise ValueError(f"prompts have field(s) {clashes}, which are info keys of the chat envs; rename them")
        self.conversation_reward_name = _name_of(self.conversation_reward)
        if self.conversation_reward is not None:
            self._conversation_fields, required = _fields_taken(self.conversation_reward)
            missing = sorted(required - set(task.field_names))
            if missing:
                raise ValueError(
                    f"conversation_reward {self.conversation_reward_name!r} needs the per-prompt field(s) {missing}, "
                    f"which the prompts do not have (their fields: {sorted(task.field_names) or 'none'})"
                )
        self.end_of_turn_id = self.template.end_of_turn_id
        if self.end_of_turn_id >= task.vocab_size:
            raise ValueError(
                f"the end-of-turn token id {self.end_of_turn_id} must lie in [0, vocab_size={task.vocab_size})"
            )
        if self.end_of_turn_id == task.pad_token_id:
            raise ValueError(
                f"pad_token_id={task.pad_token_id} is the chat template's end-of-turn token; pass another pad id"
            )

        L = task.seq_len
        single = spaces.Dict({**task.observation_space.spaces, "agent_mask": spaces.Box(0, 1, (L,), np.int64)})
        self.single_observation_space = single
        self.observation_space = batch_space(single, self.num_envs)
        B = self.num_envs
        self.agent_mask = torch.zeros((B, L), dtype=torch.long, device=self.device)
        self._count = np.zeros(B, dtype=np.int64)  # host copy of num_tokens
        self._turn_ids: list[list[int]] = [[] for _ in range(B)]  # the agent's tokens of the current turn
        self._turns = np.zeros(B, dtype=np.int64)  # finished agent turns
        self._returns = np.zeros(B, dtype=np.float64)
        self._conversations: list[list[Message]] = [[] for _ in range(B)]
        self.last_rewards = np.zeros(B, dtype=np.float64)
        """float64 ``[B]``: the rewards of the last step before the float32 cast (what the single env returns)."""

    @property
    def max_turns(self) -> int:
        """Agent turns per episode."""
        return self.settings.max_turns

    @property
    def max_turn_tokens(self) -> int:
        """Agent tokens per turn."""
        return self.settings.max_turn_tokens

    @property
    def conversation_reward(self) -> ConversationReward | None:
        return self.settings.conversation_reward

    # ----------------------------------------------------------------- reset
    def _first_messages(self, prompt_index: int) -> list[Message]:
        system = [{"role": "system", "content": self.task.system_prompt}] if self.task.system_prompt else []
        return [*system, {"role": "user", "content": self.task.prompts[int(prompt_index)]}]

    def _reset_rows(self, rows: np.ndarray, seeds: list[int | None], prompt_index: np.ndarray | None) -> None:
        super()._reset_rows(rows, seeds, prompt_index)
        self.agent_mask.index_fill_(0, torch.as_tensor(rows, device=self.device), 0)
        self._count[rows] = 0
        self._turns[rows] = 0
        self._returns[rows] = 0.0
        for row in rows:
            self._turn_ids[row] = []
            self._conversations[row] = self._first_messages(self.prompt_index[row])

    def _add_reset_info(self, info: dict[str, Any], rows: np.ndarray) -> None:
        super()._add_reset_info(info, rows)
        self._set_info(info, "num_tokens", rows, 0)
        self._set_info(info, "num_turns", rows, 0)

    def _obs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "agent_mask": self.agent_mask}

    # ------------------------------------------------------------------ step
    def _check_actions(self, actions: torch.Tensor, active: np.ndarray) -> np.ndarray:
        """The actions on the host (the one sync per step); raise for an out-of-range or masked action of a running
        sub-env."""
        task = self.task
        host_actions = actions.cpu().numpy()
        bad = active & ((host_actions < 0) | (host_actions >= task.vocab_size))
        if bad.any():
            raise ValueError(f"actions must be token ids in [0, {task.vocab_size}), got {int(host_actions[bad][0])}")
        if self._action_mask is not None:
            allowed = self._action_mask.gather(1, actions.clamp(0, task.vocab_size - 1).unsqueeze(1)).squeeze(1)
            masked = np.flatnonzero(active & ~allowed.cpu().numpy())
            if len(masked):
                check_allowed(int(host_actions[masked[0]]), self._action_mask[masked[0]].cpu().numpy())
        return host_actions

    def _ask_user(self, rows: list[int], conversations: list[list[Message]]) -> list[str | None]:
        """The user's replies to ``conversations`` (one call), checked: a non-empty ``str`` or ``None`` each."""
        fields = self.task.prompt_fields(self.prompt_index[rows])
        try:
            replies = self.user([[dict(m) for m in c] for c in conversations], fields)
        except Exception as error:
            raise RuntimeError(
                f"user {self.user_name} raised while replying to {len(rows)} conversations: "
                f"{type(error).__name__}: {error}"
            ) from error
        if isinstance(replies, (str, bytes, Mapping)) or not hasattr(replies, "__len__"):
            raise ValueError(
                f"user {self.user_name} must return a sequence of {len(rows)} replies (str, or None to end the "
                f"conversation), got {type(replies).__name__} {replies!r}"[:400]
            )
        replies = list(replies)
        if len(replies) != len(rows):
            raise ValueError(
                f"user {self.user_name} returned {len(replies)} replies for {len(rows)} conversations; it must "
                "return one per conversation"
            )
        for k, reply in enumerate(replies):
            if reply is not None and (not isinstance(reply, str) or not reply.strip()):
                raise ValueError(
                    f"user {self.user_name} returned {reply!r} ({type(reply).__name__}) for conversation {k} "
                    f"(sub-env {rows[k]}); each reply must be a non-empty str, or None to end the conversation"
                )
            forged = [] if reply is None else self.template.special_tokens_in(reply)
            if forged:
                raise ValueError(
                    f"user {self.user_name} returned {reply[:200]!r} for conversation {k} (sub-env {rows[k]}), which "
                    f"contains the special-token text {forged}: user text must not create special tokens (it could "
                    "end the user turn and forge an assistant turn)"
                )
        return replies

    def _score_conversations(self, rows: list[int], conversations: list[list[Message]]) -> np.ndarray:
        """``conversation_reward`` of the ended ``conversations`` (one call), float64 ``[len(rows)]``; zeros
        without one."""
        if self.conversation_reward is None or not rows:
            return np.zeros(len(rows))
        fields = self.task.prompt_fields(self.prompt_index[rows])
        accepted = self._conversation_fields
        kwargs = {name: values for name, values in fields.items() if accepted is None or name in accepted}
        source = f"conversation_reward {self.conversation_reward_name!r}"
        try:
            scores = self.conversation_reward([[dict(m) for m in c] for c in conversations], **kwargs)
        except Exception as error:
            raise RuntimeError(
                f"{source} raised while scoring {len(rows)} conversations: {type(error).__name__}: {error}"
            ) from error
        return check_rewards(scores, len(rows), source)

    def _plan(self, host_actions: np.ndarray, active: np.ndarray) -> _StepPlan:
        """What this step does to every sub-env, with the env unchanged: which turns end and why, the user's replies
        (one call), the tokens the env writes after each action, which episodes end and the rewards (one
        reward-model call, one conversation-reward call). Everything that can raise runs here."""
        task, N = self.task, self.task.max_new_tokens
        count = self._count + 1  # tokens after the first prompt once the action is written
        turn_length = np.array([len(ids) + 1 for ids in self._turn_ids])
        conditions = [
            host_actions == self.end_of_turn_id,
            np.isin(host_actions, task.eos_token_ids),
            turn_length >= self.max_turn_tokens,
        ]
        plan = _StepPlan(np.select([*conditions, count >= N], TURN_ENDS, default=""))
        plan.turn_end[~active] = ""
        plan.ended_turns = [int(row) for row in np.flatnonzero(plan.turn_end != "")]
        asking = []
        for row in plan.ended_turns:
            reason = plan.turn_end[row]
            ids = [*self._turn_ids[row], int(host_actions[row])]
            plan.texts[row] = task.decode(ids[:-1] if reason in ("end_of_turn", "eos") else ids)
            plan.conversations[row] = [*self._conversations[row], {"role": "assistant", "content": plan.texts[row]}]
            needs_end_of_turn = reason in ("eos", "max_turn_tokens")
            if needs_end_of_turn and count[row] >= N:  # no slot for the end-of-turn token
                plan.stop[row] = "context_full"
                continue
            plan.inserted[row] = [self.end_of_turn_id] if needs_end_of_turn else []
            if reason == "context_full":
                plan.stop[row] = "context_full"
            elif self._turns[row] + 1 >= self.max_turns:
                plan.stop[row] = "max_turns"
            elif count[row] + len(plan.inserted[row]) + 2 > N:  # no slot for a reply token and an agent token
                plan.stop[row] = "context_full"
            else:
                asking.append(row)
        replies = self._ask_user(asking, [plan.conversations[row] for row in asking]) if asking else []
        for row, reply in zip(asking, replies, strict=True):
            if reply is None:
                plan.stop[row] = "user_ended"
                continue
            reply_ids = self.template.reply_ids(plan.conversations[row], reply)
            if max(reply_ids) >= task.vocab_size:
                raise ValueError(
                    f"the user turn {reply[:200]!r} of user {self.user_name} tokenizes to id {max(reply_ids)}, "
                    f"outside the action space's ids [0, vocab_size={task.vocab_size})"
                )
            if count[row] + len(plan.inserted[row]) + len(reply_ids) + 1 > N:  # the reply and one agent token
                plan.stop[row] = "context_full"
            else:
                plan.inserted[row] += reply_ids
                plan.conversations[row].append({"role": "user", "content": reply})

        plan.rewards = np.zeros(len(host_actions), dtype=np.float64)
        if plan.ended_turns:
            contexts = [
                self.template.render(self._conversations[row], add_generation_prompt=True) for row in plan.ended_turns
            ]
            texts = [plan.texts[row] for row in plan.ended_turns]
            plan.rewards[plan.ended_turns] = task.score(self.prompt_index[plan.ended_turns], texts, prompts=contexts)
        plan.turn_rewards = plan.rewards.copy()
        ended = plan.ended_rows
        plan.rewards[ended] += self._score_conversations(ended, [plan.conversations[row] for row in ended])
        check_rewards(plan.rewards, len(host_actions), "the sums of turn and conversation rewards")
        return plan

    def _write_tokens(
        self, actions: torch.Tensor, host_actions: np.ndarray, active: np.ndarray, plan: _StepPlan
    ) -> None:
        """Write the running sub-envs' actions (agent_mask 1) and the tokens the env inserts after them (agent_mask
        0); advance the counters and the conversations."""
        P, N = self.task.max_prompt_tokens, self.task.max_new_tokens
        active_dev = torch.as_tensor(active, device=self.device)
        position = (P + torch.as_tensor(np.minimum(self._count, N - 1), device=self.device)).unsqueeze(1)
        for buffer, value in ((self.input_ids, actions), (self.attention_mask, 1), (self.agent_mask, 1)):
            current = buffer.gather(1, position).squeeze(1)
            buffer.scatter_(1, position, torch.where(active_dev, value, current).unsqueeze(1))
        added = active.astype(np.int64)
        for row in plan.ended_turns:
            tokens = plan.inserted.get(row, [])
            start = P + int(self._count[row]) + 1
            self.input_ids[row, start : start + len(tokens)] = torch.as_tensor(tokens, dtype=torch.long)
            self.attention_mask[row, start : start + len(tokens)] = 1
            added[row] += len(tokens)
            self._turn_ids[row] = []
            self._turns[row] += 1
            self._conversations[row] = plan.conversations[row]
        for row in np.flatnonzero(active & (plan.turn_end == "")):
            self._turn_ids[row].append(int(host_actions[row]))
        self._count += added
        self.num_tokens += torch.as_tensor(added, device=self.device)

    def step_tensors(
        self, actions: torch.Tensor | np.ndarray
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Like ``step``, but the observation is the live device buffers (clone them to keep a copy past the
        next step), and rewards (float32), terminated and truncated are device tensors ``[B]``."""
        check_can_step(self._started, single=False)
        task, B = self.task, self.num_envs
        actions = self._as_action_tensor(actions)
        active = ~self._ended  # the sub-envs that take this step's action; ended ones are reset or frozen instead
        host_actions = self._check_actions(actions, active)
        plan = self._plan(host_actions, active)

        # Nothing raised: apply the step.
        info = self._empty_info()
        self._autoreset_ended(info)
        self._write_tokens(actions, host_actions, active, plan)
        self._returns += plan.rewards
        self.last_rewards = plan.rewards

        turns = np.array(plan.ended_turns, dtype=np.int64)
        self._set_info(info, "turn", turns, self._turns[turns] - 1)
        self._set_info(info, "turn_reward", turns, plan.turn_rewards[turns])
        self._set_info(info, "turn_text", turns, [plan.texts[row] for row in turns])
        self._set_info(info, "turn_end", turns, plan.turn_end[turns].tolist())
        stepped = np.flatnonzero(active)
        self._set_info(info, "prompt", stepped, [task.scored_prompts[i] for i in self.prompt_index[stepped]])
        for key, values in (
            ("prompt_index", self.prompt_index),
            ("num_tokens", self._count),
            ("num_turns", self._turns),
        ):
            self._set_info(info, key, stepped, values[stepped])
        ended = np.array(plan.ended_rows, dtype=np.int64)
        if len(ended):
            self._add_episode_info(info, ended, [plan.stop[row] for row in ended])
        finished = np.zeros(B, dtype=bool)
        finished[ended] = True
        truncated = np.zeros(B, dtype=bool)
        truncated[[row for row in ended if plan.stop[row] == "context_full"]] = True
        self._ended |= finished
        self._ended_dev |= torch.as_tensor(finished, device=self.device)

        self._add_field_info(info, np.arange(B))
        self._autoreset_finished(info, finished)
        self._render_human()
        self._update_action_mask(info)
        to_device = lambda array: torch.as_tensor(array, device=self.device)  # noqa: E731
        rewards = to_device(plan.rewards.astype(np.float32))
        return self._obs(), rewards, to_device(finished & ~truncated), to_device(truncated), info

    def _add_episode_info(self, info: dict[str, Any], rows: np.ndarray, reasons: list[str]) -> None:
        """The keys set only at an episode's end: ``completion``, ``conversation``, ``score``, ``stop_reason``."""
        P = self.task.max_prompt_tokens
        ids = self.input_ids[:, P:].index_select(0, torch.as_tensor(rows, device=self.device)).cpu().numpy()
        conversations = np.empty(len(rows), dtype=object)
        for k, row in enumerate(rows):
            conversations[k] = [dict(m) for m in self._conversations[row]]
        completions = [self._decode_context(ids[k, : self._count[row]]) for k, row in enumerate(rows)]
        self._set_info(info, "completion", rows, completions)
        self._set_info(info, "conversation", rows, conversations)
        self._set_info(info, "score", rows, self._returns[rows])
        self._set_info(info, "stop_reason", rows, reasons)

    def _decode_context(self, ids: Sequence[int]) -> str:
        """Tokens after the first prompt as the agent sees them: special tokens (turn markers) kept, ids ``>=
        len(tokenizer)`` (LM-head padding) dropped."""
        known = len(self.task.tokenizer)
        return self.task.tokenizer.decode([int(i) for i in ids if i < known])

    # ---------------------------------------------------------------- render
    def _parts(self) -> list[Parts]:
        """(first prompt, everything after it as text, ``"n/N tokens, turn t/T"``) of every sub-env."""
        task, P = self.task, self.task.max_prompt_tokens
        ids = self.input_ids[:, P:].cpu().numpy()
        parts = []
        for row in range(self.num_envs):
            if self.prompt_index[row] < 0:
                parts.append(("(no episode: call reset())", "", ""))
                continue
            text = self._decode_context(ids[row, : self._count[row]])
            turn = min(self._turns[row] + 1, self.max_turns)
            status = f"{self._count[row]}/{task.max_new_tokens} tokens, turn {turn}/{self.max_turns}"
            parts.append((task.scored_prompts[self.prompt_index[row]], text, status))
        return parts


def is_chat_env(env_id: str) -> bool:
    """Whether the registered ``env_id`` builds a chat vector env (``TextGenChat-v0``, ``TextGenSupport-v0`` and
    envs built like them), from its vector entry point's type, without building it.

    Raises:
        ValueError: ``env_id`` is not a registered env id (the message lists the TextGen ids).
    """
    import typing

    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    if env_id not in gym.registry:
        known = sorted(name for name in gym.registry if name.startswith("TextGen"))
        raise ValueError(f"env {env_id!r} is not a registered env id; the TextGen envs: {', '.join(known)}")
    creator = gym.spec(env_id).vector_entry_point
    creator = load_env_creator(creator) if isinstance(creator, str) else creator
    built = creator if isinstance(creator, type) else typing.get_type_hints(creator).get("return")
    return isinstance(built, type) and issubclass(built, TextGenChatVectorEnv)
