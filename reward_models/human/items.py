"""What the labelling page shows: candidate completions per prompt (from a file or sampled from a policy), cut into
labelling items, one queue per mode.

Candidates file (JSONL, one object per line)::

    {"prompt": str, "completions": [str, ...]}

``prompt`` may also be a conversation, a list of ``{"role", "content"}`` messages ending with a user turn (as in a
conversation pair, ``reward_models.preferences.conversation``): the completions are then candidate next assistant
turns, the page shows the conversation turn by turn, and the labels are conversation pairs.

Items, per mode, for a prompt with distinct completions ``c0 … c(k-1)``:

- ``pair``: disjoint pairs ``(c0, c1), (c2, c3), …`` (every completion compared once; an odd last one is left out);
- ``rank``: all k completions (at least 2) at once;
- ``edit``: the first completion, to be rewritten into what the labeller wanted.

An item's key is a hash of its mode, prompt and completions, so it is the same on every run with the same candidates:
that is what lets a restarted server skip the items already labelled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from reward_models.common.jsonl import read_jsonl_objects
from reward_models.preferences.conversation import Conversation, conversation_messages, parse_conversation

LabelMode = Literal["pair", "rank", "edit"]
MODES: tuple[str, ...] = get_args(LabelMode)


@dataclass(frozen=True)
class Candidates:
    """Completions of one prompt (a text, or a conversation whose next assistant turn they are) offered for
    labelling."""

    prompt: str | Conversation
    completions: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """One labelling task: ``mode``, the prompt and the completions shown (in display order)."""

    key: str
    mode: str
    prompt: str | Conversation
    completions: tuple[str, ...]

    def to_dict(self) -> dict:
        """The item as the page gets it: a conversation prompt as its list of ``{"role", "content"}`` messages."""
        return {
            "key": self.key,
            "mode": self.mode,
            "prompt": _prompt_json(self.prompt),
            "completions": list(self.completions),
        }


def _prompt_json(prompt: str | Conversation) -> str | list[dict[str, str]]:
    return conversation_messages(prompt) if isinstance(prompt, tuple) else prompt


def item_key(mode: str, prompt: str | Conversation, completions: Sequence[str]) -> str:
    """Stable key ``"<mode>:<16 hex digits>"`` of an item (sha256 of its mode, prompt and completions)."""
    digest = hashlib.sha256(
        json.dumps([mode, _prompt_json(prompt), list(completions)], ensure_ascii=False).encode("utf-8")
    )
    return f"{mode}:{digest.hexdigest()[:16]}"


def _distinct(completions: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(completions))


def load_candidates(path: str | os.PathLike) -> list[Candidates]:
    """Read a candidates JSONL file; a bad line raises ``ValueError`` naming the file and line number."""
    result = []
    for number, row in read_jsonl_objects(path, "candidates file"):
        completions = row.get("completions")
        prompt = row.get("prompt")
        if isinstance(prompt, list):
            try:
                prompt = parse_conversation(prompt)
            except ValueError as error:
                raise ValueError(f"candidates file {path}, line {number}: {error}") from None
        if (
            not isinstance(prompt, (str, tuple))
            or not isinstance(completions, list)
            or not completions
            or not all(isinstance(c, str) for c in completions)
        ):
            raise ValueError(
                f'candidates file {path}, line {number}: expected {{"prompt": str or [messages], '
                '"completions": [str, ...]} with at least one completion'
            )
        result.append(Candidates(prompt, _distinct(completions)))
    if not result:
        raise ValueError(f"candidates file {path} has no rows")
    return result


def save_candidates(path: str | os.PathLike, candidates: Sequence[Candidates]) -> None:
    """Write ``candidates`` as a candidates JSONL file (to a temporary name first, then renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        "".join(
            json.dumps({"prompt": _prompt_json(c.prompt), "completions": list(c.completions)}, ensure_ascii=False)
            + "\n"
            for c in candidates
        ),
        encoding="utf-8",
    )
    os.replace(temporary, path)


def sample_candidates(
    prompts: Sequence[str],
    policy: str | tuple = "smollm2",
    completions_per_prompt: int = 4,
    max_new_tokens: int = 24,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 32,
    device: str = "auto",
    seed: int = 0,
) -> list[Candidates]:
    """Sample ``completions_per_prompt`` completions for each prompt from a causal LM (a name/folder as in
    ``load_policy``, or a loaded ``(model, tokenizer)`` padding on the
    left)."""
    import torch
    from tqdm.auto import tqdm

    from reward_models.common.devices import resolve_device
    from reward_models.preferences.labelling import LabelConfig, load_policy, sample_completions

    config = LabelConfig(
        policy=policy if isinstance(policy, str) else "smollm2",
        completions_per_prompt=completions_per_prompt,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        device=device,
        seed=seed,
    )
    torch.manual_seed(seed)
    model, tokenizer = load_policy(policy, resolve_device(device)) if isinstance(policy, str) else policy
    repeated = [p for p in prompts for _ in range(completions_per_prompt)]
    with tqdm(total=len(repeated), desc="sampling candidates", unit="compl") as bar:
        completions = sample_completions(model, tokenizer, repeated, config, progress=bar)
    k = completions_per_prompt
    return [Candidates(prompt, _distinct(completions[i * k : (i + 1) * k])) for i, prompt in enumerate(prompts)]


def build_items(candidates: Sequence[Candidates]) -> dict[str, list[Item]]:
    """The labelling queue of every mode (see the module docstring), in candidates order."""
    queues: dict[str, list[Item]] = {mode: [] for mode in MODES}

    def add(mode: str, prompt: str | Conversation, completions: tuple[str, ...]) -> None:
        queues[mode].append(Item(item_key(mode, prompt, completions), mode, prompt, completions))

    for entry in candidates:
        texts = entry.completions
        for start in range(0, len(texts) - 1, 2):
            add("pair", entry.prompt, texts[start : start + 2])
        if len(texts) >= 2:
            add("rank", entry.prompt, texts)
        if texts:
            add("edit", entry.prompt, texts[:1])
    # identical rows in the candidates file make identical items (same key): keep one
    return {mode: list({item.key: item for item in queue}.values()) for mode, queue in queues.items()}
