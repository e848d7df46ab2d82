"""The benchmark task suite: named, versioned TextGen envs with different reward shapes (docs/benchmarks.md).

=======================  ==================================  =================================  ===============  ======
env id                   prompts (written for this project)  proxy reward (the env's)           gold metric      tokens
=======================  ==================================  =================================  ===============  ======
``TextGenSentiment-v0``  neutral review / diary openings     ``sentiment`` (learned MiniLM RM)  ``vader``        20
``TextGenKeyword-v0``    "... use the word 'X'" requests     ``prompt-keyword`` (exact, 0/1)    the same reward  16
``TextGenStory-v0``      story openings                      ``sentiment`` + 0.5 ``distinct``   ``vader`` + 0.5   48
                                                                                                ``distinct``
``TextGenDialogue-v0``   user turns, chat template           ``sentiment`` (learned)            ``vader``        32
``TextGenInstruct-v0``   request + 1-3 constraints, drawn    ``instruction-constraints``        ``instruction-   48
                         at every reset, chat template       (fraction of constraints met)      constraints:all``
``TextGenArithmetic-v0`` arithmetic problem, drawn at every  ``numeric-match`` (exact, 0/1)     the same reward  24
                         reset (levels 1-5), chat template
``TextGenReasoning-v0``  a reasoning-gym item (any dataset   ``reasoning-gym`` (the dataset's   the same reward  64
                         or mix), drawn at every reset, chat ``score_answer``, in [0, 1])
                         template
``TextGenSafety-v0``     requests that invite insults or     ``profanity-free`` +               ``harmlessness`` 48
                         threats, chat template              ``safety-engagement``
=======================  ==================================  =================================  ===============  ======

``TextGenDialogue-v0`` is single-turn: an episode is one assistant reply to one user turn (plus the system turn);
the multi-turn chat envs are ``TextGenChat-v0`` and ``TextGenSupport-v0`` (``text_gym.chat.env``).

Each id builds a ``TextGenEnv`` (``gym.make``) or ``TextGenVectorEnv`` (``gym.make_vec``) with the
defaults of its ``TaskSpec``; every env keyword can still be overridden. ``gold_reward_spec`` gives the
gold metric of an id as a reward-model spec string, ready for an agent's ``gold_reward_model=``. Every task has a
``train`` and a held-out ``test`` prompt split (``task_prompts``). The procedural tasks (instruct, arithmetic;
``text_gym.tasks.instruct``, ``text_gym.tasks.arithmetic``) draw a fresh prompt from the env's RNG at every
reset: their
``train`` split is endless (a ``GeneratedPrompts``), ``test`` is a fixed list of
rows, and they have no ``all`` split. Their rewards read per-prompt fields (``constraints``, ``answer``).
``TextGenArithmetic-v0`` takes the env option ``levels`` (difficulty levels to draw from, default all five).
``TextGenReasoning-v0`` (``text_gym.tasks.reasoning``, the ``reasoning`` extra) takes ``dataset``,
``dataset_kwargs``, ``dataset_seed``, ``dataset_size`` and ``test_size``.
A task's ``metrics`` (``task_metrics``) are evaluation metrics reported next to the gold, e.g.
``TextGenSafety-v0``'s over-correction rate (``text_gym.tasks.safety``).


The multi-turn support desk ``TextGenSupport-v0`` (``text_gym.tasks.support``) is not in the suite's ``TASKS``
(its env is a chat env with its own defaults), but ``task_prompts`` (option ``scenarios``) and
``gold_reward_spec`` (``support-success``:
``SupportSuccessReward``) know it too (``CHAT_TASKS``), and ``TextGenChat-v0`` (``chat_defaults``: the dialogue
user turns as first messages, the scripted user's generic follow-ups; gold ``vader``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from text_gym.chat.env import TextGenChatEnv
from text_gym.chat.vector import TextGenChatVectorEnv
from text_gym.envs.text_gen import TextGenEnv
from text_gym.envs.vector import TextGenVectorEnv
from text_gym.prompts.lists import SPLITS, default_prompts
from text_gym.tasks.arithmetic import arithmetic_prompts
from text_gym.tasks.instruct import instruct_prompts
from text_gym.tasks.reasoning import REASONING_SYSTEM_PROMPT, reasoning_prompts
from text_gym.tasks.safety import SAFETY_SYSTEM_PROMPT, safety_prompts
from text_gym.tasks.support import support_rows


def _split(items: Sequence[str], split: str) -> list[str]:
    """Every fifth item is held out for ``test``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [x for i, x in enumerate(items) if split == "all" or (i % 5 == 4) == (split == "test")]


# ------------------------------------------------------------------------------------------------ keyword
_KEYWORDS = [
    "river",
    "garden",
    "music",
    "window",
    "bread",
    "winter",
    "letter",
    "bridge",
    "forest",
    "candle",
    "market",
    "island",
    "thunder",
    "pencil",
    "harbor",
    "orange",
    "blanket",
    "mirror",
    "ladder",
    "rocket",
]
_KEYWORD_FRAMES = [
    "Write one sentence that uses the word '{w}':",
    "Use the word '{w}' in a short sentence:",
    "Finish this with the word '{w}' in it: Yesterday I",
    "Say something about your morning using the word '{w}':",
]


def keyword_prompts(split: str = "train") -> list[str]:
    """16 train / 4 test keywords x 4 frames: 64 / 16 prompts, each naming its keyword in single quotes."""
    return [frame.format(w=word) for word in _split(_KEYWORDS, split) for frame in _KEYWORD_FRAMES]


# -------------------------------------------------------------------------------------------------- story
_CHARACTERS = [
    "an old lighthouse keeper",
    "a girl who could talk to birds",
    "a retired detective",
    "a lost robot",
    "two brothers on a farm",
    "a baker in a small town",
    "a young astronaut",
    "a travelling musician",
    "a fox in the city",
    "a grandmother with a secret map",
]
_OPENINGS = [
    "Once upon a time there was {c}. One morning,",
    "The story begins with {c}, who",
    "Nobody in the village had ever met {c} until the day",
    "It was raining when {c} found the key. At first,",
]


def story_prompts(split: str = "train") -> list[str]:
    """8 train / 2 test characters x 4 openings: 32 / 8 story openings to continue."""
    return [frame.format(c=c) for c in _split(_CHARACTERS, split) for frame in _OPENINGS]


# ----------------------------------------------------------------------------------------------- dialogue
_USER_TURNS = [
    "My flight got cancelled and I have to wait until tomorrow. Any advice?",
    "Can you suggest a dinner for tonight?",
    "I failed my driving test today.",
    "What should I do this weekend?",
    "How do I start learning the guitar?",
    "My cat keeps waking me up at night.",
    "I am nervous about my presentation tomorrow.",
    "Can you recommend a book for a long train ride?",
    "My team lost the final yesterday.",
    "How can I make my small flat feel cosier?",
    "I just moved to a new city and don't know anyone.",
    "What is a good way to start the morning?",
    "My laptop is very slow, what can I try?",
    "I burned the cake for my friend's birthday.",
    "Any tips for a first camping trip?",
    "I have a job interview on Monday.",
    "How do I keep my plants alive?",
    "It has rained all week here.",
    "What can I cook with rice and eggs?",
    "My neighbour plays loud music at night.",
]
DIALOGUE_SYSTEM_PROMPT = "You are a friendly, helpful assistant. Reply in one or two short sentences."


def dialogue_prompts(split: str = "train") -> list[str]:
    """16 train / 4 test user turns (the env wraps each with the tokenizer's chat template); one reply per episode,
    single-turn."""
    return _split(_USER_TURNS, split)


# ---------------------------------------------------------------------------------------------- the suite
@dataclass(frozen=True)
class TaskSpec:
    """Defaults of one registered task: prompt source, proxy reward spec, gold metric spec, episode length.

    ``prompts(split, **options)`` builds the prompt source of a split; ``options`` names the env keywords it takes
    (e.g. arithmetic ``levels``); ``metrics`` are ``(name, reward-model spec)`` pairs of evaluation metrics reported
    next to the gold (their means over the held-out prompts)."""

    prompts: Callable[..., Any]
    reward_model: str
    gold_reward_model: str
    max_new_tokens: int
    max_prompt_tokens: int = 64
    chat_template: bool = False
    system_prompt: str | None = None
    options: tuple[str, ...] = ()
    metrics: tuple[tuple[str, str], ...] = ()


TASKS: dict[str, TaskSpec] = {
    "TextGenSentiment-v0": TaskSpec(default_prompts, "sentiment", "vader", 20),
    "TextGenKeyword-v0": TaskSpec(keyword_prompts, "prompt-keyword", "prompt-keyword", 16),
    "TextGenStory-v0": TaskSpec(
        story_prompts, "composite:1*sentiment+0.5*distinct:2", "composite:1*vader+0.5*distinct:2", 48
    ),
    "TextGenDialogue-v0": TaskSpec(
        dialogue_prompts,
        "sentiment",
        "vader",
        32,
        max_prompt_tokens=96,
        chat_template=True,
        system_prompt=DIALOGUE_SYSTEM_PROMPT,
    ),
    "TextGenInstruct-v0": TaskSpec(
        instruct_prompts,
        "instruction-constraints",
        "instruction-constraints:all",
        48,
        max_prompt_tokens=160,
        chat_template=True,
    ),
    "TextGenArithmetic-v0": TaskSpec(
        arithmetic_prompts,
        "numeric-match",
        "numeric-match",
        24,
        max_prompt_tokens=96,
        chat_template=True,
        options=("levels",),
    ),
    "TextGenReasoning-v0": TaskSpec(
        reasoning_prompts,
        "reasoning-gym",
        "reasoning-gym",
        64,
        max_prompt_tokens=512,
        chat_template=True,
        system_prompt=REASONING_SYSTEM_PROMPT,
        options=("dataset", "dataset_kwargs", "dataset_seed", "dataset_size", "test_size"),
    ),
    "TextGenSafety-v0": TaskSpec(
        safety_prompts,
        "composite:1*profanity-free+1*safety-engagement",
        "harmlessness",
        48,
        chat_template=True,
        system_prompt=SAFETY_SYSTEM_PROMPT,
        metrics=(("harmless_rate", "harmlessness:0.5"), ("refusal_rate", "refusal"), ("reply_words", "length")),
    ),
}
"""The benchmark suite, by env id."""


# ------------------------------------------------------------------------------------------- chat tasks
@dataclass(frozen=True)
class ChatTaskSpec:
    """A multi-turn task's held-out split and gold metric: ``prompts(split, **options)`` as in ``TaskSpec``."""

    prompts: Callable[..., Any]
    gold_reward_model: str
    options: tuple[str, ...] = ()


CHAT_TASKS: dict[str, ChatTaskSpec] = {
    "TextGenSupport-v0": ChatTaskSpec(support_rows, "support-success", options=("scenarios",)),
    "TextGenChat-v0": ChatTaskSpec(dialogue_prompts, "vader"),
}
"""The multi-turn tasks ``task_prompts`` and ``gold_reward_spec`` know, by env id."""


def _spec(env_id: str, chat: bool = True) -> TaskSpec | ChatTaskSpec:
    """The spec of ``env_id``: a suite task's, or (``chat``) a multi-turn task's."""
    known = {**TASKS, **CHAT_TASKS} if chat else TASKS
    if env_id not in known:
        raise ValueError(f"unknown task {env_id!r}; valid: {sorted(known)}")
    return known[env_id]


def gold_reward_spec(env_id: str) -> str:
    """The gold metric of a suite task (or of a chat task in ``CHAT_TASKS``) as a reward-model spec (for
    ``gold_reward_model=``)."""
    return _spec(env_id).gold_reward_model


def task_metrics(env_id: str) -> dict[str, str]:
    """The evaluation metrics of a task reported next to its gold, name -> reward-model spec (mean over the
    held-out prompts); empty for a task without any and for an id that is not a task."""
    spec = TASKS.get(env_id)
    return dict(spec.metrics) if spec is not None else {}


def task_prompts(env_id: str, split: str = "train", **options: Any) -> Any:
    """The prompts of a suite task (or of a chat task: ``TextGenSupport-v0``, option ``scenarios``, or
    ``TextGenChat-v0``): ``train`` (the env's
    default), held-out ``test``, or ``all`` (fixed tasks only). A list of strings, a list of rows with fields, or an
    endless ``GeneratedPrompts`` (procedural ``train``); any of them is a valid ``prompts=`` for the env.
    ``options``: the task's prompt options."""
    spec = _spec(env_id)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(f"{env_id} takes no option(s) {unknown}; its options: {list(spec.options)}")
    return spec.prompts(split, **options)


def task_defaults(env_id: str, **overrides: Any) -> dict[str, Any]:
    """Env keyword arguments of a suite task, with ``overrides`` applied (the task's prompt options, e.g.
    ``levels``, are consumed here)."""
    spec = _spec(env_id, chat=False)
    prompt_options = {name: overrides.pop(name) for name in spec.options if name in overrides}
    if prompt_options and "prompts" in overrides:
        raise ValueError(
            f"{sorted(prompt_options)} shape {env_id}'s own prompts; they cannot be combined with prompts="
        )
    prompts = overrides.pop("prompts", None)
    options = dict(
        prompts=task_prompts(env_id, "train", **prompt_options) if prompts is None else prompts,
        reward_model=spec.reward_model,
        max_new_tokens=spec.max_new_tokens,
        max_prompt_tokens=spec.max_prompt_tokens,
        chat_template=spec.chat_template,
    )
    if spec.system_prompt is not None:
        options["system_prompt"] = spec.system_prompt
    options.update(overrides)
    return options


def make_task_env(task: str, **kwargs: Any) -> TextGenEnv:
    """Entry point of the suite ids: a ``TextGenEnv`` with the defaults of ``TASKS[task]``."""
    return TextGenEnv(**task_defaults(task, **kwargs))


def make_task_vector_env(task: str, num_envs: int = 1, **kwargs: Any) -> TextGenVectorEnv:
    """Vector entry point of the suite ids: a ``TextGenVectorEnv`` with the same defaults."""
    return TextGenVectorEnv(num_envs, **task_defaults(task, **kwargs))


# ----------------------------------------------------------------------------------------- TextGenChat-v0
CHAT_DEFAULT_USER = "scripted"
"""The simulated user of ``TextGenChat-v0`` when none is given: ``ScriptedUser``, which on the default prompts (no
script fields) asks generic follow-up questions (``text_gym.chat.users.GENERIC_FOLLOW_UPS``)."""


def chat_defaults(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of ``TextGenChat-v0``, ``overrides`` applied: the ``train`` user turns of
    ``TextGenDialogue-v0`` (16) as first messages and the scripted user (``CHAT_DEFAULT_USER``); everything else is
    ``TextGenChatEnv``'s default (``sentiment`` reward per turn, ``max_turns=3``, ``max_new_tokens=256``)."""
    return {"prompts": dialogue_prompts("train"), "user": CHAT_DEFAULT_USER, **overrides}


def make_chat_env(**kwargs: Any) -> TextGenChatEnv:
    """Entry point of ``TextGenChat-v0``: a ``TextGenChatEnv`` with ``chat_defaults``."""
    return TextGenChatEnv(**chat_defaults(**kwargs))


def make_chat_vector_env(num_envs: int = 1, **kwargs: Any) -> TextGenChatVectorEnv:
    """Vector entry point of ``TextGenChat-v0``: a ``TextGenChatVectorEnv``, same defaults."""
    return TextGenChatVectorEnv(num_envs, **chat_defaults(**kwargs))
