"""Prompt sources: the project's default prompt set, and loading prompts from lists, .txt and .jsonl files.

The default set is generated here from hand-written subjects and sentence frames: open-ended, sentiment-neutral
openings of a short review or diary entry ("My first week at the new job was"), which a policy can continue
positively or negatively. Subjects are split 80/20 into ``train`` and ``test``, so held-out prompts talk about
things the policy never saw during training.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reward_models.common.jsonl import read_jsonl_objects, read_text_lines

_SUBJECTS = [
    "the new restaurant on the corner",
    "my first week at the new job",
    "the concert last night",
    "the hotel we stayed in",
    "the film everyone is talking about",
    "my neighbour's garden party",
    "the train journey to the coast",
    "the book I finished yesterday",
    "our team meeting this morning",
    "the new phone I bought",
    "the museum downtown",
    "my cousin's wedding",
    "the football match on Sunday",
    "the customer service call",
    "the hike up the mountain",
    "the cooking class",
    "the weather this weekend",
    "the flight home",
    "the school play",
    "the coffee shop near the station",
    "the new album",
    "my dentist appointment",
    "the software update",
    "the camping trip",
    "the job interview",
    "the city marathon",
    "the art exhibition",
    "the second-hand bicycle",
    "the online course",
    "the dinner my friends cooked",
    "the bus ride to work",
    "the theme park",
    "the local library",
    "the birthday surprise",
    "the apartment viewing",
    "the yoga retreat",
    "the board game night",
    "the long weekend by the lake",
    "the holiday market",
    "the science fair",
    "the road trip with my brother",
    "the new video game",
    "the town hall debate",
    "the ferry crossing",
    "the jazz festival",
    "the farmers market",
    "the first snow of the year",
    "the charity run",
    "the laptop repair",
    "the new bakery",
    "the piano recital",
    "the group project",
    "the ski lesson",
    "the weekend in Paris",
    "the moving day",
    "the garden I planted",
    "the comedy show",
    "the staff party",
    "the family reunion",
    "the night shift at the hospital",
]

_FRAMES = [
    "Honestly, {s} was",
    "I have to say that {s} turned out to be",
    "Looking back, {s} felt",
    "My review of {s}:",
    "Everyone asked me about {s}, and I told them it was",
    "Dear diary, {s} was",
    "If I had to describe {s} in one sentence, I would say it was",
    "The thing I remember most about {s} is that it was",
]

SPLITS = ("train", "test", "all")


def default_prompts(split: str = "train") -> list[str]:
    """The project's prompt set: 48 train subjects x 8 frames (384 prompts), 12 test subjects x 8 frames (96)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    subjects = [s for i, s in enumerate(_SUBJECTS) if split == "all" or (i % 5 == 4) == (split == "test")]
    prompts = []
    for subject in subjects:
        for frame in _FRAMES:
            text = frame.format(s=subject)
            prompts.append(text[0].upper() + text[1:])
    return prompts


def read_prompt_rows(path: str | os.PathLike) -> list[dict]:
    """The objects of a ``.jsonl`` prompts file, each with a string ``prompt`` field (other keys are kept)."""
    rows = []
    for number, row in read_jsonl_objects(path, "prompts file"):
        if not isinstance(row.get("prompt"), str):
            raise ValueError(f"prompts file {path}, line {number}: expected an object with a string 'prompt' field")
        rows.append(row)
    return rows


def _read_prompt_file(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        return [row["prompt"] for row in read_prompt_rows(path)]
    if path.suffix == ".txt":
        return [line for _, line in read_text_lines(path, "prompts file") if line.strip()]
    raise ValueError(f"prompts file must end in .txt (one prompt per line) or .jsonl (a 'prompt' field), got {path}")


def load_prompts(prompts: str | os.PathLike | Sequence[str] | None) -> list[str]:
    """Resolve a prompt source to a non-empty list of non-empty strings.

    ``prompts`` is ``None`` (the default train split), ``"default:<split>"`` (``train``, ``test`` or ``all``),
    a path to a ``.txt`` (one prompt per non-blank line) or ``.jsonl`` (one object with a ``prompt`` field per
    line) file, or a list of strings.
    """
    if prompts is None:
        result = default_prompts("train")
    elif isinstance(prompts, str) and prompts.startswith("default:"):
        result = default_prompts(prompts.partition(":")[2])
    elif isinstance(prompts, (str, os.PathLike)):
        path = Path(prompts)
        if not path.is_file():
            raise FileNotFoundError(
                f"prompts file {path} does not exist (prompts must be a list, a .txt/.jsonl path "
                "or 'default:train|test|all')"
            )
        result = _read_prompt_file(path)
    elif isinstance(prompts, Sequence):
        result = list(prompts)
        for index, prompt in enumerate(result):
            if not isinstance(prompt, str):
                raise TypeError(f"prompts[{index}] must be a string, got {type(prompt).__name__}")
    else:
        raise TypeError(f"prompts must be None, a list of strings or a file path, got {type(prompts).__name__}")
    if not result:
        raise ValueError(f"prompts is empty ({prompts!r}); the env needs at least one prompt")
    for index, prompt in enumerate(result):
        if not prompt.strip():
            raise ValueError(f"prompts[{index}] is blank; every prompt must contain text")
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"prompts[{index}] holds a lone surrogate {prompt[error.start]!r} at {error.start}, which is no text"
            ) from None
    return result
