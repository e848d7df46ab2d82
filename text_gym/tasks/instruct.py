"""``TextGenInstruct-v0``: instruction following with verifiable constraints, prompts composed at every reset.

A prompt is a request about a topic ("Write a short paragraph about how to make tea.") followed by one to three
constraint instructions drawn from ``reward_models.CONSTRAINTS`` (16 types; the checkers and their exact rules
are in ``reward_models.models.constraints``), e.g. "Answer in at most 20 words. Do not use any commas."
Constraints that
contradict each other (all lowercase and all capitals, a JSON answer and bullet points, ...) are never combined.
The row's field ``constraints`` is the machine-readable list of constraint dicts, which the reward
``instruction-constraints`` (fraction met) and the gold ``instruction-constraints:all`` (all met) read.

Topics are split 80/20 into train and held-out test topics: ``train`` is the endless procedural source over the
train topics, ``test`` a fixed set of ``TEST_SIZE`` prompts over the test topics.

``constrained_answer`` builds an answer that meets a row's constraints (or misses exactly one), for the
demonstrations of ``text_gym.tasks.demonstrations``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from reward_models import CONSTRAINTS, check_constraint, describe_constraint
from text_gym.prompts.generated import GeneratedPrompts

TEST_SIZE = 48
TRAIN_SALT, TEST_SALT = 0x1F57, 0x7E57

_TOPICS = [
    "how to make a cup of tea",
    "the benefits of walking every day",
    "your favourite season",
    "a day at the beach",
    "why sleep matters",
    "how plants grow",
    "a rainy afternoon in the city",
    "learning a new language",
    "the moon",
    "cooking pasta at home",
    "what makes a good friend",
    "recycling at home",
    "the ocean",
    "riding a bicycle",
    "a visit to the library",
    "keeping a small garden",
    "the first day of school",
    "how bees make honey",
    "planning a picnic",
    "the sound of rain",
    "a busy train station",
    "taking care of a dog",
    "why people like music",
    "a winter morning",
    "building a sandcastle",
    "saving money",
    "a walk in the forest",
    "how to stay calm before a test",
    "the best way to learn to swim",
    "a birthday party",
]
_REQUESTS = [
    "Write a short paragraph about {topic}.",
    "Tell me about {topic}.",
    "Give some advice about {topic}.",
    "Write a short note to a friend about {topic}.",
]
_INCLUDE = ["sun", "friend", "simple", "water", "morning", "green", "happy", "light", "quiet", "home"]
_EXCLUDE = ["very", "really", "good", "nice", "thing", "and", "just", "lot"]
_START = ["Sure", "Here is my answer", "Well", "In short"]
_END = ["Is there anything else I can help with?", "That is all.", "Thank you for reading."]
_JSON_KEYS = [["title", "summary"], ["topic", "answer"], ["name", "reason"]]
_WORD_RANGES = [(0, 20), (0, 40), (10, 50), (20, 60)]
_SENTENCE_RANGES = [(1, 1), (1, 2), (2, 3), (3, 3)]

# Pairs that cannot both be met, or make each other meaningless.
_WHOLE_RESPONSE = ("json_keys", "quotation", "repeat_request", "start_with")
_CONFLICTS = {
    frozenset(pair)
    for pair in [
        ("lowercase", "uppercase"),
        ("bullet_points", "sentence_count"),
        ("bullet_points", "json_keys"),
        ("json_keys", "title"),
        ("json_keys", "postscript"),
        ("json_keys", "end_with"),
        ("json_keys", "sentence_count"),
        ("quotation", "end_with"),
        ("quotation", "postscript"),
        ("postscript", "end_with"),
        ("include_words", "keyword_frequency"),
        *[(a, b) for a in _WHOLE_RESPONSE for b in _WHOLE_RESPONSE if a < b],
    ]
}


def _choice(rng: np.random.Generator, options: list) -> Any:
    return options[int(rng.integers(len(options)))]


def _words(rng: np.random.Generator, pool: list[str]) -> list[str]:
    count = int(rng.integers(1, 3))
    return [pool[i] for i in sorted(rng.choice(len(pool), size=count, replace=False))]


def draw_constraint(kind: str, rng: np.random.Generator, request: str) -> dict[str, Any]:
    """A constraint of type ``kind`` with parameters drawn from ``rng`` (``request`` is the text to repeat)."""
    if kind in ("word_count", "sentence_count"):
        low, high = _choice(rng, _WORD_RANGES if kind == "word_count" else _SENTENCE_RANGES)
        return {"type": kind, "min": low, "max": high}
    parameters = {
        "include_words": lambda: {"words": _words(rng, _INCLUDE)},
        "exclude_words": lambda: {"words": _words(rng, _EXCLUDE)},
        "keyword_frequency": lambda: {"word": _choice(rng, _INCLUDE), "min": int(rng.integers(2, 4))},
        "start_with": lambda: {"phrase": _choice(rng, _START)},
        "end_with": lambda: {"phrase": _choice(rng, _END)},
        "bullet_points": lambda: {"count": int(rng.integers(2, 5))},
        "json_keys": lambda: {"keys": list(_choice(rng, _JSON_KEYS))},
        "postscript": lambda: {"marker": "P.S."},
        "repeat_request": lambda: {"text_to_repeat": request},
    }
    return {"type": kind, **parameters.get(kind, dict)()}


def instruct_row(rng: np.random.Generator, topics: list[str]) -> dict[str, Any]:
    """One prompt row ``{"prompt", "constraints"}``: a request about a topic, then 1-3 compatible constraints."""
    request = _choice(rng, _REQUESTS).format(topic=_choice(rng, topics))
    count = int(rng.integers(1, 4))
    kinds: list[str] = []
    for kind in rng.permutation(sorted(CONSTRAINTS)):
        if all(frozenset((kind, other)) not in _CONFLICTS for other in kinds):
            kinds.append(str(kind))
        if len(kinds) == count:
            break
    constraints = [draw_constraint(kind, rng, request) for kind in kinds]
    prompt = " ".join([request, *(describe_constraint(c) for c in constraints)])
    return {"prompt": prompt, "constraints": constraints}


def _topics(split: str) -> list[str]:
    return [t for i, t in enumerate(_TOPICS) if (i % 5 == 4) == (split == "test")]


def instruct_prompts(split: str = "train") -> GeneratedPrompts | list[dict]:
    """``train``: endless prompts over the train topics; ``test``: ``TEST_SIZE`` fixed prompts over the
    held-out topics."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for a procedural task, got {split!r}")
    topics = _topics(split)
    source = GeneratedPrompts(
        lambda rng: instruct_row(rng, topics), ("constraints",), salt=TRAIN_SALT if split == "train" else TEST_SALT
    )
    return source if split == "train" else source.sample(TEST_SIZE, seed=TEST_SALT)


# ------------------------------------------------------------------------------------------ built answers
_OPENING = ("Here is what I think about {topic}.", "Let me say a few words about {topic}.", "I like {topic}.")
_FILLERS = (
    "Start small.",
    "Take your time with it.",
    "It helps to plan ahead.",
    "Small steps add up.",
    "Ask others for tips.",
    "Try it once to see how it feels.",
    "Patience pays off.",
    "Keep notes as you go.",
    "Everyone can learn it.",
    "It is worth the effort.",
)
_WORDS = "It makes me think of {words}."
_EXCLUDED_USES = {
    "very": "It is very calm.",
    "really": "It really helps.",
    "good": "It is good for you.",
    "nice": "It is nice to try.",
    "thing": "It is one thing to try.",
    "and": "Try it and see.",
    "just": "Just try it.",
    "lot": "It helps a lot.",
}
_POSTSCRIPT = "Thanks for asking."


def _request_and_topic(prompt: str) -> tuple[str, str]:
    """The request sentence that opens a generated prompt, and its topic."""
    for request in _REQUESTS:
        head, tail = request.split("{topic}")
        end = prompt.find(tail, len(head))
        if prompt.startswith(head) and end > len(head):
            return prompt[: end + len(tail)], prompt[len(head) : end]
    raise ValueError(f"not a prompt of TextGenInstruct-v0's generator: {prompt!r}")


def _built(
    prompt: str, constraints: Sequence[dict[str, Any]], missed: str | None, fillers: Sequence[str], opening: str
) -> str:
    """One answer: ``opening``, the words to include, ``fillers``, shaped by every constraint but ``missed`` (which
    is broken where a plain answer would meet it by chance)."""
    request, topic = _request_and_topic(prompt)
    kept = {c["type"]: c for c in constraints if c["type"] != missed}
    required = [*kept.get("include_words", {}).get("words", [])]
    if "keyword_frequency" in kept:
        required += [kept["keyword_frequency"]["word"]] * kept["keyword_frequency"]["min"]
    sentences = [opening.format(topic=topic), *([_WORDS.format(words=" or ".join(required))] if required else [])]
    sentences += fillers
    if missed == "exclude_words":
        excluded = next(c for c in constraints if c["type"] == missed)["words"][0]
        sentences.append(_EXCLUDED_USES[excluded])
    if missed == "no_commas":
        sentences[0] = "Well, " + sentences[0][0].lower() + sentences[0][1:]
    bullets = "bullet_points" in kept
    text = "\n".join(f"* {s}" for s in sentences) if bullets else " ".join(sentences)
    if "title" in kept:
        text = f"<<{topic[0].upper()}{topic[1:]}>>\n{text}"
    if "repeat_request" in kept:
        text = request + ("\n" if bullets or "title" in kept else " ") + text
    if "start_with" in kept:
        text = f"{kept['start_with']['phrase']}: {text}"
    if "end_with" in kept:
        text += ("\n" if bullets else " ") + kept["end_with"]["phrase"]
    if "postscript" in kept:
        text += f"\n{kept['postscript']['marker']} {_POSTSCRIPT}"
    if "json_keys" in kept:
        first, *others = kept["json_keys"]["keys"]
        text = json.dumps({first: topic, **{key: text for key in others}}, ensure_ascii=False)
    if "quotation" in kept:
        text = f'"{text}"'
    if "lowercase" in kept:
        text = text.lower()
    if "uppercase" in kept:
        text = text.upper()
    return text


def constrained_answer(
    row: dict[str, Any],
    rng: np.random.Generator,
    missed: int | None = None,
    fits: Callable[[str], bool] = lambda text: True,
) -> str | None:
    """An answer to an instruct prompt row built to meet its constraints (checked by ``check_constraint``), or
    None when no answer of the builder meets them and ``fits`` (some combinations cannot be met: a JSON object
    without commas, JSON keys in capitals).

    The answer is an opening sentence about the topic, a sentence with the words to include, and as few filler
    sentences as the length constraints need, then shaped by the other constraints (bullets, title, start or end
    phrase, postscript, repeated request, JSON, quotes, case). ``rng`` draws the opening and the fillers' order.

    Args:
        row: a row of ``instruct_prompts`` (``prompt``, ``constraints``).
        rng: draws the wording.
        missed: the index of one constraint the answer must miss (all others met); default none.
        fits: whether an answer is short enough (e.g. fits the env's token budget).
    """
    constraints = row["constraints"]
    missed_type = None if missed is None else constraints[missed]["type"]
    opening = _OPENING[int(rng.integers(len(_OPENING)))]
    fillers = [_FILLERS[i] for i in rng.permutation(len(_FILLERS))]
    for count in range(len(fillers) + 1):
        text = _built(row["prompt"], constraints, missed_type, fillers[:count], opening)
        met = [check_constraint(text, c) for c in constraints]
        if met == [index != missed for index in range(len(constraints))] and fits(text):
            return text
    return None
