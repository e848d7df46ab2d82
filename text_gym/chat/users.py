"""Simulated users of the multi-turn chat envs: who writes the user turns of a conversation.

A simulated user is any callable ``user(conversations, fields) -> replies``, called once per env step with every
conversation whose agent turn just ended (one batch across sub-envs):

- ``conversations``: one list of ``Message`` per conversation, the conversation so far (a system message if
  any, the first user message, ..., the agent's turn that just ended last).
- ``fields``: the per-prompt fields of those conversations, ``{name: [value per conversation]}`` (the columns of
  the prompt rows, as reward models get them; a scenario's persona, goal and hidden facts live there).
- returns one item per conversation: the next user message (a non-empty ``str``), or ``None`` to end the
  conversation (goal reached, or the user gave up).

Three users ship here; ``make_user`` resolves them by name:

- ``ScriptedUser`` (``"scripted"``): rule-based, driven by the fields ``facts``, ``required``, ``solution``,
  ``patience`` and ``goal`` of the prompt rows (see ``Script``), or generic follow-up questions on prompts without
  them; deterministic, so gold metrics are exact.
- ``LMUser`` (``"lm"``, ``"lm:<model>"``): a causal LM prompted with a persona, roles swapped, batched.
- ``ReplayUser`` (``"replay:<path.jsonl>"``): fixed follow-up turns from a JSONL file.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from reward_models.common import check_positive_int, load_tokenizer
from reward_models.common.jsonl import read_jsonl_objects
from reward_models.common.lm import load_causal_lm

Message = dict[str, str]
"""One chat message in Hugging Face's format: ``{"role": "system" | "user" | "assistant", "content": str}``."""


class SimulatedUser(Protocol):
    """The interface of a simulated user (see the module docstring)."""

    def __call__(
        self, conversations: Sequence[Sequence[Message]], fields: Mapping[str, Sequence[Any]]
    ) -> Sequence[str | None]: ...


def agent_turns(conversation: Sequence[Message], who: str = "user", ends_with_agent: bool = True) -> list[str]:
    """The agent's (``assistant``) turns of ``conversation``, in order; ``ValueError`` naming ``who`` when the
    conversation is not a list of messages or (with ``ends_with_agent``, what a user replies to) does not end with
    an agent turn."""
    if not conversation or not all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in conversation):
        raise ValueError(f"{who}: a conversation must be a non-empty list of messages, got {conversation!r}")
    if ends_with_agent and conversation[-1].get("role") != "assistant":
        raise ValueError(f"{who}: a conversation must end with the agent's (assistant) turn, got {conversation[-1]!r}")
    return [m["content"] for m in conversation if m.get("role") == "assistant"]


def _row(fields: Mapping[str, Sequence[Any]], index: int) -> dict[str, Any]:
    return {name: values[index] for name, values in fields.items()}


def _check_batch(who: str, conversations: Sequence[Any], fields: Mapping[str, Sequence[Any]]) -> None:
    for name, values in fields.items():
        if len(values) != len(conversations):
            raise ValueError(f"{who}: field {name!r} has {len(values)} values for {len(conversations)} conversations")


# --------------------------------------------------------------------------------------------- scripted user
@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def _compile(pattern: str, where: str) -> re.Pattern:
    """``pattern`` compiled case-insensitive (cached); ``ValueError`` naming ``where`` when it is invalid."""
    try:
        return _regex(pattern)
    except re.error as error:
        raise ValueError(f"{where}: invalid regular expression {pattern!r} ({error})") from None


_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


@dataclass(frozen=True)
class Fact:
    """A hidden fact: ``value`` is revealed (as ``reply`` with ``{value}`` filled in) when an agent turn matches
    the regular expression ``ask`` (case-insensitive ``re.search``)."""

    name: str
    value: str
    ask: str
    reply: str

    def answer(self) -> str:
        return self.reply.replace("{value}", self.value)


@dataclass(frozen=True)
class Script:
    """The rules of a scripted user for one conversation, read from its prompt row's fields:

    - ``facts``: list of ``{"name", "value", "ask", "reply"}`` objects (``Fact``); default none.
    - ``required``: names of the facts the agent must ask for before the solution counts; default all facts.
    - ``solution``: list of regular expressions that must ALL match one agent turn (case-insensitive) for it to be
      the right next step; ``{name}`` stands for the (escaped) value of fact ``name``. Default none: the user is
      never satisfied.
    - ``patience``: agent turns the user waits for the solution before giving up (int >= 1); default: the
      ``ScriptedUser``'s ``patience`` (``None``: never gives up).
    - ``goal``: what the user wants, in words (used in the reply to an unrelated question); optional.
    """

    facts: tuple[Fact, ...] = ()
    required: tuple[str, ...] = ()
    solution: tuple[str, ...] = ()
    patience: int | None = None
    goal: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], where: str = "script", patience: int | None = None) -> Script:
        """Parse and check the fields of one prompt row; ``ValueError`` naming ``where`` and the field."""
        facts_field = row.get("facts") or []
        if not isinstance(facts_field, Sequence) or isinstance(facts_field, str):
            raise ValueError(f"{where}: field 'facts' must be a list of fact objects, got {facts_field!r}")
        facts = []
        for position, item in enumerate(facts_field):
            keys = ("name", "value", "ask", "reply")
            if not isinstance(item, Mapping) or not all(isinstance(item.get(k), str) and item.get(k) for k in keys):
                raise ValueError(
                    f"{where}: facts[{position}] must be an object with non-empty string keys {list(keys)}, "
                    f"got {item!r}"
                )
            _compile(item["ask"], f"{where}: facts[{position}].ask")
            facts.append(Fact(*(item[k] for k in keys)))
        names = [fact.name for fact in facts]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: fact names must be unique, got {names}")
        required = row.get("required")
        required = tuple(names) if required is None else required
        if isinstance(required, str) or not all(isinstance(r, str) and r in names for r in required):
            raise ValueError(f"{where}: field 'required' must be a list of fact names from {names}, got {required!r}")
        solution = row.get("solution") or []
        if isinstance(solution, str) or not all(isinstance(p, str) and p for p in solution):
            raise ValueError(f"{where}: field 'solution' must be a list of non-empty regex strings, got {solution!r}")
        for pattern in solution:
            unknown = sorted(set(_PLACEHOLDER.findall(pattern)) - set(names))
            if unknown:
                raise ValueError(
                    f"{where}: solution pattern {pattern!r} names unknown fact(s) {unknown}; facts: {names}"
                )
        if row.get("patience") is not None:
            patience = check_positive_int(f"{where}: field 'patience'", row["patience"])
        goal = row.get("goal")
        if goal is not None and not isinstance(goal, str):
            raise ValueError(f"{where}: field 'goal' must be a string, got {goal!r}")
        script = cls(tuple(facts), tuple(required), tuple(solution), patience, goal)
        script.solution_patterns(where)  # every pattern compiles once its fact values are filled in
        return script

    def solution_patterns(self, where: str = "script") -> list[re.Pattern]:
        """The solution's regular expressions with the fact values filled in, compiled."""
        values = {fact.name: re.escape(fact.value) for fact in self.facts}
        return [
            _compile(_PLACEHOLDER.sub(lambda m: values[m.group(1)], pattern), f"{where}: solution")
            for pattern in self.solution
        ]

    def asked(self, text: str) -> list[Fact]:
        """The facts an agent turn ``text`` asks for, in the script's order."""
        return [fact for fact in self.facts if _compile(fact.ask, "fact").search(text)]

    def solves(self, text: str) -> bool:
        """Whether ``text`` gives the right next step (every solution pattern matches; False without a solution)."""
        return bool(self.solution) and all(p.search(text) for p in self.solution_patterns())


@dataclass(frozen=True)
class Outcome:
    """Where a scripted conversation stands after reading its agent turns (``run_script``).

    ``status``: ``"success"`` (an agent turn gave the solution after every required fact had been asked for in
    an EARLIER turn, within patience), ``"gave_up"`` (``patience`` agent turns without that), or ``"open"``.
    ``turns``: agent turns read (turns after success / giving up are ignored). ``asked``: names of the facts asked
    for so far, in the order first asked. ``revealed``: the facts the last turn read asked for (what the user
    answers). ``premature``: the last turn read gave the solution before the required facts were asked for.
    """

    status: Literal["success", "gave_up", "open"]
    turns: int
    asked: tuple[str, ...]
    revealed: tuple[Fact, ...]
    premature: bool


def run_script(script: Script, turns: Sequence[str]) -> Outcome:
    """Play the script over the agent turns in order (the rules in ``Outcome``); pure and deterministic."""
    asked: list[str] = []
    revealed: tuple[Fact, ...] = ()
    premature = False
    for number, text in enumerate(turns, start=1):
        solved = script.solves(text)
        if solved and set(script.required) <= set(asked):
            return Outcome("success", number, tuple(asked), (), False)
        revealed = tuple(script.asked(text))
        asked += [fact.name for fact in revealed if fact.name not in asked]
        premature = solved
        if script.patience is not None and number >= script.patience:
            return Outcome("gave_up", number, tuple(asked), revealed, premature)
    return Outcome("open", len(turns), tuple(asked), revealed, premature)


DEFAULT_NUDGES = ("Can you help me?", "I still need help with this.", "Are you still there? I need help.")
GENERIC_FOLLOW_UPS = (
    "Can you say more about that?",
    "Could you give me an example?",
    "Thanks. Is there anything else I should know?",
)
"""What ``ScriptedUser`` says on prompts without script fields, in turn."""
SCRIPT_FIELDS = ("facts", "required", "solution", "patience", "goal")
"""The per-prompt fields ``Script`` reads."""


class ScriptedUser:
    """A rule-based user driven by the per-prompt fields (``Script``); replies depend only on the conversation and
    the fields, never on state kept between calls, so it is deterministic and can serve any number of sub-envs.

    After each agent turn (``run_script`` over all agent turns so far):

    - success (right next step after the required facts were asked for) or patience used up -> ``None`` (ends);
    - the turn asks for facts -> reveals them: their ``reply`` texts, joined with spaces (again if asked again);
    - the turn gives the solution too early -> ``premature`` ("Don't you need some details from me first?");
    - the turn asks something else (contains ``?``) -> ``unsure`` + the row's ``goal``;
    - otherwise -> a nudge, ``nudges[(turn - 1) % len(nudges)]``.

    Prompts with none of the ``SCRIPT_FIELDS`` (plain strings, e.g. ``TextGenChat-v0``'s default prompts) get the
    generic script: the user asks ``follow_ups[(turn - 1) % len(follow_ups)]`` after each agent turn and ends the
    conversation only after ``patience`` turns (never with ``patience=None``). Prompts with some script fields but
    no ``solution`` are refused (the user could never be satisfied).

    Args:
        patience: agent turns before giving up, for rows without a ``patience`` field (``None``: never).
        nudges, premature, unsure: the reply texts above.
        follow_ups: the generic script's replies.
    """

    def __init__(
        self,
        patience: int | None = None,
        nudges: Sequence[str] = DEFAULT_NUDGES,
        premature: str = "Don't you need some details from me first?",
        unsure: str = "I'm not sure what you mean.",
        follow_ups: Sequence[str] = GENERIC_FOLLOW_UPS,
    ) -> None:
        if patience is not None:
            check_positive_int("patience", patience)
        for name, texts in (("nudges", nudges), ("follow_ups", follow_ups)):
            if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
                raise ValueError(f"{name} must be a non-empty list of non-empty strings, got {texts!r}")
        for name, text in (("premature", premature), ("unsure", unsure)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{name} must be a non-empty string, got {text!r}")
        self.patience = patience
        self.nudges = tuple(nudges)
        self.follow_ups = tuple(follow_ups)
        self.premature = premature
        self.unsure = unsure

    def __repr__(self) -> str:
        return f"ScriptedUser(patience={self.patience})"

    def reply(self, conversation: Sequence[Message], row: Mapping[str, Any], where: str = "ScriptedUser") -> str | None:
        """The reply to one conversation whose prompt row is ``row``."""
        script = Script.from_row(row, where, self.patience)
        turns = agent_turns(conversation, where)
        outcome = run_script(script, turns)
        if outcome.status != "open":
            return None
        if outcome.revealed:
            return " ".join(fact.answer() for fact in outcome.revealed)
        if outcome.premature:
            return self.premature
        if "?" in turns[-1]:
            return self.unsure if script.goal is None else f"{self.unsure} I just want to {script.goal}."
        return self.nudges[(len(turns) - 1) % len(self.nudges)]

    def follow_up(self, conversation: Sequence[Message], where: str = "ScriptedUser") -> str | None:
        """The generic script's reply to ``conversation`` (prompts without script fields)."""
        turns = agent_turns(conversation, where)
        if self.patience is not None and len(turns) >= self.patience:
            return None
        return self.follow_ups[(len(turns) - 1) % len(self.follow_ups)]

    def __call__(
        self, conversations: Sequence[Sequence[Message]], fields: Mapping[str, Sequence[Any]]
    ) -> list[str | None]:
        _check_batch("ScriptedUser", conversations, fields)
        given = [name for name in SCRIPT_FIELDS if name in fields]
        if not given:
            return [
                self.follow_up(conversation, f"ScriptedUser, conversation {index}")
                for index, conversation in enumerate(conversations)
            ]
        if "solution" not in fields:
            raise ValueError(
                f"ScriptedUser: the prompts have the script field(s) {given} but no 'solution' (the regexes of the "
                "right next step), so the user could never be satisfied; add 'solution' to every row "
                "(text_gym.chat.users.Script format, e.g. text_gym.support_rows()), or drop the script fields for "
                "the generic follow-up script"
            )
        return [
            self.reply(conversation, _row(fields, index), f"ScriptedUser, conversation {index}")
            for index, conversation in enumerate(conversations)
        ]


# ------------------------------------------------------------------------------------------------- LM user
DEFAULT_PERSONA = "You are a person chatting with an assistant."
USER_INSTRUCTIONS = (
    "Reply as this person, not as the assistant: write only your own next message, in one or two short sentences. "
    "When you have what you wanted, say goodbye."
)


class LMUser:
    """A causal LM playing the user: it is prompted with a persona and sees the conversation with roles swapped
    (the agent's turns are ``user`` turns to it, the user's earlier turns its own ``assistant`` turns), rendered
    with its tokenizer's chat template; its generated ``assistant`` turn is the user's next message.

    All conversations of a call are generated in ONE batched ``generate`` call (left padding). Sampling is
    reproducible: call ``n`` of this user samples under ``torch`` seed ``(seed, n)`` inside ``fork_rng``, so the
    global RNG is untouched and the same seed and calls give the same replies.

    The persona (the LM's system message) is the row's ``persona`` field if the prompts have one, else
    ``persona``; then the row's ``goal`` (``"Your goal: ..."``) and ``facts`` (``"Details you know; give one only
    when asked for it: name: value, ..."``, the ``Script`` format) if present; then ``USER_INSTRUCTIONS``.
    The packaged SmolLM2-135M follows such a persona poorly (it often answers like an assistant); it is the
    offline default, and ``"lm:<hub id or folder>"`` takes a stronger instruct model.

    Ending the conversation (``None``): when the conversation already has ``max_turns`` agent turns (no generation),
    when the reply contains one of ``stop_phrases`` (case-insensitive; the farewell itself is not returned), or
    when the reply is empty.

    Args:
        model: a causal LM object, a hub id, a local folder, or ``"smollm2"`` (packaged, offline; default).
        tokenizer: its tokenizer (object, id or folder); default: the model's. Needs a chat template.
        persona: the default persona (see above).
        max_reply_tokens: tokens generated per reply (>= 1).
        temperature: sampling temperature (> 0); 0 = greedy.
        top_p: nucleus-sampling mass in (0, 1].
        seed: sampling seed.
        max_turns: end after this many agent turns (``None``: no limit but the env's).
        stop_phrases: phrases that end the conversation.
        device: ``"cpu"``, ``"cuda"``, ``"auto"``... (a model object stays where it is).
    """

    def __init__(
        self,
        model: Any = "smollm2",
        tokenizer: Any = None,
        *,
        persona: str = DEFAULT_PERSONA,
        max_reply_tokens: int = 48,
        temperature: float = 0.7,
        top_p: float = 1.0,
        seed: int = 0,
        max_turns: int | None = None,
        stop_phrases: Sequence[str] = ("goodbye",),
        device: str = "cpu",
    ) -> None:
        import torch

        check_positive_int("max_reply_tokens", max_reply_tokens)
        if max_turns is not None:
            check_positive_int("max_turns", max_turns)
        if not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
        if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        if not isinstance(persona, str) or not persona.strip():
            raise ValueError(f"persona must be a non-empty string, got {persona!r}")
        if isinstance(stop_phrases, str) or not all(isinstance(p, str) and p.strip() for p in stop_phrases):
            raise ValueError(f"stop_phrases must be a list of non-empty strings, got {stop_phrases!r}")
        if isinstance(model, (str, os.PathLike)):
            name = str(model)
            self.tokenizer = load_tokenizer(name if tokenizer is None else tokenizer)
            model = load_causal_lm(name, device=device)
        elif isinstance(model, torch.nn.Module) and hasattr(model, "generate"):
            if tokenizer is None:
                raise ValueError("LMUser: a model object needs its tokenizer (tokenizer=...)")
            self.tokenizer = load_tokenizer(tokenizer)
        else:
            raise TypeError(
                "LMUser model must be a causal LM object, a hub id, a local folder or 'smollm2', "
                f"got {type(model).__name__}"
            )
        if self.tokenizer.chat_template is None:
            raise ValueError("LMUser: the tokenizer has no chat template; the LM user needs one to render its prompt")
        self.model = model.eval()
        self.persona = persona
        self.max_reply_tokens = max_reply_tokens
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.seed = int(seed)
        self.max_turns = max_turns
        self.stop_phrases = tuple(p.lower() for p in stop_phrases)
        self.calls = 0
        config = model.config
        self.context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)

    def __repr__(self) -> str:
        return f"LMUser({type(self.model).__name__}, max_reply_tokens={self.max_reply_tokens})"

    def system_message(self, row: Mapping[str, Any], where: str = "LMUser") -> str:
        """The LM's system message for a conversation with prompt row ``row`` (see the class docstring)."""
        persona = row.get("persona") or self.persona
        if not isinstance(persona, str):
            raise ValueError(f"{where}: field 'persona' must be a string, got {persona!r}")
        parts = [persona]
        if row.get("goal"):
            parts.append(f"Your goal: {row['goal']}.")
        if row.get("facts"):
            facts = Script.from_row({"facts": row["facts"]}, where).facts
            details = ", ".join(f"{fact.name.replace('_', ' ')}: {fact.value}" for fact in facts)
            parts.append(f"Details you know; give one only when asked for it: {details}.")
        return " ".join([*parts, USER_INSTRUCTIONS])

    def lm_messages(self, conversation: Sequence[Message], row: Mapping[str, Any], where: str = "LMUser") -> list:
        """What the LM sees: its system message, then the conversation without the agent's system message and with
        ``user`` and ``assistant`` swapped (ends with the agent's last turn as a ``user`` turn)."""
        agent_turns(conversation, where)
        swap = {"user": "assistant", "assistant": "user"}
        messages = [{"role": "system", "content": self.system_message(row, where)}]
        return messages + [
            {"role": swap[m["role"]], "content": m["content"]} for m in conversation if m["role"] in swap
        ]

    def __call__(
        self, conversations: Sequence[Sequence[Message]], fields: Mapping[str, Sequence[Any]]
    ) -> list[str | None]:
        import torch

        _check_batch("LMUser", conversations, fields)
        replies: list[str | None] = [None] * len(conversations)
        live, texts = [], []
        for index, conversation in enumerate(conversations):
            where = f"LMUser, conversation {index}"
            messages = self.lm_messages(conversation, _row(fields, index), where)
            if self.max_turns is not None and sum(m["role"] == "user" for m in messages) >= self.max_turns:
                continue
            live.append(index)
            texts.append(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        self.calls += 1
        if not live:
            return replies
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        width = max(map(len, encoded))
        if self.context is not None and width + self.max_reply_tokens > self.context:
            raise ValueError(
                f"LMUser: a conversation renders to {width} tokens, + max_reply_tokens {self.max_reply_tokens} is "
                f"more than the model's context of {self.context} tokens"
            )
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        pad = 0 if pad is None else pad
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
        sampling = {"do_sample": False}
        if self.temperature > 0:
            sampling = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0}
        seed = int(np.random.SeedSequence([self.seed, self.calls]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.inference_mode():
            torch.manual_seed(seed)
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=self.max_reply_tokens,
                pad_token_id=pad,
                **sampling,
            )
        for index, text in zip(
            live, self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True), strict=True
        ):
            text = text.strip()
            ended = not text or any(phrase in text.lower() for phrase in self.stop_phrases)
            replies[index] = None if ended else text
        return replies


# --------------------------------------------------------------------------------------------- replay user
class ReplayUser:
    """Fixed follow-up turns from a JSONL file: one object per conversation,
    ``{"prompt": <the conversation's first user message>, "follow_ups": [<user turn 2>, <user turn 3>, ...]}``.

    A conversation is matched to its row by its first user message (the prompt row's text, exactly); other keys
    are ignored, so a prompts file with a ``follow_ups`` column can serve as its own replay file. After the
    agent's ``k``-th turn the user says ``follow_ups[k - 1]``, and ends the conversation (``None``) when they run
    out. Missing file, bad line, duplicate prompt, or a conversation with no row: ``ValueError`` /
    ``FileNotFoundError`` naming the file (and line).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.follow_ups: dict[str, tuple[str, ...]] = {}
        lines: dict[str, int] = {}
        what = "replay file"
        for number, row in read_jsonl_objects(path, what):
            prompt, follow_ups = row.get("prompt"), row.get("follow_ups")
            where = f"{what} {path}, line {number}"
            if not isinstance(prompt, str) or not prompt:
                raise ValueError(f"{where}: needs a non-empty string 'prompt' (the first user message), got {row!r}")
            if (
                isinstance(follow_ups, str)
                or not isinstance(follow_ups, list)
                or not all(isinstance(turn, str) and turn.strip() for turn in follow_ups)
            ):
                raise ValueError(f"{where}: 'follow_ups' must be a list of non-empty strings, got {follow_ups!r}")
            if prompt in lines:
                raise ValueError(f"{where}: prompt {prompt!r} already has follow-ups on line {lines[prompt]}")
            lines[prompt] = number
            self.follow_ups[prompt] = tuple(follow_ups)
        if not self.follow_ups:
            raise ValueError(f"{what} {path} has no rows")

    def __repr__(self) -> str:
        return f"ReplayUser({self.path!r})"

    def __call__(
        self, conversations: Sequence[Sequence[Message]], fields: Mapping[str, Sequence[Any]]
    ) -> list[str | None]:
        _check_batch("ReplayUser", conversations, fields)
        replies: list[str | None] = []
        for index, conversation in enumerate(conversations):
            where = f"ReplayUser({self.path}), conversation {index}"
            turns = agent_turns(conversation, where)
            first = next((m["content"] for m in conversation if m.get("role") == "user"), None)
            if first not in self.follow_ups:
                raise ValueError(f"{where}: replay file {self.path} has no row whose prompt is {first!r}")
            follow_ups = self.follow_ups[first]
            replies.append(follow_ups[len(turns) - 1] if len(turns) <= len(follow_ups) else None)
        return replies


# --------------------------------------------------------------------------------------------------- names
USER_SPECS = ("scripted", "lm", "lm:<model id or folder>", "replay:<path.jsonl>")


def make_user(spec: str | SimulatedUser) -> SimulatedUser:
    """Resolve a user spec: ``"scripted"`` (``ScriptedUser``), ``"lm"`` (``LMUser`` with the packaged
    SmolLM2), ``"lm:<model>"`` (a hub id, folder or ``smollm2``), ``"replay:<path.jsonl>"`` (``ReplayUser``);
    a callable is returned unchanged. Anything else: ``ValueError`` / ``TypeError`` listing the valid forms."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"user must be a spec string ({', '.join(USER_SPECS)}) or a callable, got {type(spec).__name__}"
        )
    name, colon, argument = spec.partition(":")
    if spec == "scripted":
        return ScriptedUser()
    if name == "lm" and (argument or not colon):
        return LMUser(argument or "smollm2")
    if name == "replay" and argument:
        return ReplayUser(argument)
    raise ValueError(f"unknown user spec {spec!r}; valid: {', '.join(repr(s) for s in USER_SPECS)}")
