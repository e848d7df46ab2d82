"""``TextGenReasoning-v0``: any reasoning-gym dataset, or a weighted mix of them, as a token-level task.

reasoning-gym (the ``reasoning`` extra) has 100+ procedural generators, each with its own ``score_answer``. The env
keywords pick the generators:

- ``dataset="basic_arithmetic"`` and ``dataset_kwargs={"max_terms": 3}``: one dataset and its config fields (those
  of the dataset's config class in ``reasoning_gym.factory.DATASETS``);
- ``dataset={"basic_arithmetic": 2, "leg_counting": 1}``: a mix drawn with these weights (reasoning-gym's
  ``CompositeDataset``), ``dataset_kwargs={"leg_counting": {"max_animals": 3}}`` the config of each dataset that
  needs one;
- ``dataset_seed`` (default 0) and ``dataset_size`` (default ``DEFAULT_SIZE``): the generator seed and the number
  of items (reasoning-gym's ``seed`` and ``size``, which ``dataset_kwargs`` therefore may not set); dataset ``i``
  (0 for a single dataset) gets seed ``dataset_seed + i + 1``.

Items ``0 .. test_size - 1`` (default ``TEST_SIZE``) are the fixed held-out ``test`` split; a training reset draws
an item number from ``test_size .. dataset_size - 1`` with the env's RNG (``GeneratedPrompts``) and skips items
whose question is a test question. Most reasoning-gym datasets build item ``j`` from a generator seeded by
``seed + j``, so the two splits come from disjoint generator seeds by construction (the few that draw all items up
front from one generator, e.g. ``acre``, give disjoint item positions); the question check keeps a small question
space (e.g. one-digit sums) from leaking test questions into training.

A row's prompt is the question, shown as the user turn of the chat template after ``REASONING_SYSTEM_PROMPT``
(reasoning-gym's own convention: the final answer between ``<answer>`` and ``</answer>``, in the format the question
states); its fields are ``entry`` (the reasoning-gym item: ``question``, ``answer``, ``metadata``) and ``dataset``
(``{"name", "config"}``: the dataset and the exact keyword arguments that made the item). The reward
``"reasoning-gym"`` (``ReasoningGymReward``) scores the completion's last ``<answer>...</answer>`` with that
dataset's ``score_answer``; it is exact, so it is its own gold metric.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from reward_models import BaseRewardModel, require_extra
from reward_models.common import check_positive_int
from text_gym.prompts.generated import GeneratedPrompts

DEFAULT_DATASET = "basic_arithmetic"
DEFAULT_SIZE = 20_000
"""Items per dataset (reasoning-gym's ``size``): a few datasets build all their items up front (``acre``, about
3 s for 20,000) or cap it (``word_ladder``: at most 20,000)."""
TEST_SIZE = 100
TRAIN_SALT = 0x7EA5
FIELD_NAMES = ("entry", "dataset")
REASONING_SYSTEM_PROMPT = (
    "Solve the problem. Give your final answer between <answer> and </answer> tags, in the format the question "
    "asks for, with nothing else inside the tags."
)
_RESERVED_KWARGS = ("seed", "size")


def _reasoning_gym() -> ModuleType:
    """The ``reasoning_gym`` package, or ``MissingExtraError`` naming the ``reasoning`` extra."""
    return require_extra("reasoning_gym", "reasoning", "TextGenReasoning-v0 (reasoning-gym datasets)")


def dataset_names() -> list[str]:
    """The reasoning-gym dataset names ``dataset=`` accepts (``reasoning_gym.factory.DATASETS`` less
    ``composite``: a mix is given as a mapping)."""
    _reasoning_gym()
    from reasoning_gym.factory import DATASETS

    return sorted(name for name in DATASETS if name != "composite")


def _weights(dataset: str | Mapping[str, float]) -> dict[str, float]:
    """``{name: weight}`` of ``dataset`` (a name, or a mapping name -> weight > 0), names checked."""
    mix = {dataset: 1.0} if isinstance(dataset, str) else dataset
    if not isinstance(mix, Mapping) or not mix:
        raise ValueError(
            f"dataset must be a reasoning-gym dataset name or a non-empty mapping name -> weight, got {dataset!r}"
        )
    valid = dataset_names()
    unknown = sorted(str(name) for name in mix if name not in valid)
    if unknown:
        raise ValueError(
            f"unknown reasoning-gym dataset(s) {unknown} in dataset; valid (reasoning_gym.factory.DATASETS): {valid}"
        )
    for name, weight in mix.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 < weight < float("inf"):
            raise ValueError(f"dataset weight of {name!r} must be a finite number > 0, got {weight!r}")
    return {name: float(weight) for name, weight in mix.items()}


def _configs(
    mix: Mapping[str, float], dataset_kwargs: Mapping[str, Any] | None, single: bool
) -> dict[str, dict[str, Any]]:
    """Each dataset's config keywords: ``dataset_kwargs`` itself for one dataset (``single``: ``dataset`` was a
    name), ``dataset_kwargs[name]`` in a mix; each checked by building the dataset's config class (its errors
    re-raised naming ``dataset_kwargs``)."""
    from reasoning_gym.factory import DATASETS

    if dataset_kwargs is not None and not isinstance(dataset_kwargs, Mapping):
        raise ValueError(f"dataset_kwargs must be a mapping or None, got {dataset_kwargs!r}")
    if single:
        configs = {next(iter(mix)): dict(dataset_kwargs or {})}
    else:
        kwargs = dict(dataset_kwargs or {})
        stray = sorted(set(kwargs) - set(mix))
        if stray:
            raise ValueError(
                f"dataset_kwargs of a mix maps dataset names to their config; {stray} are not in the mix {list(mix)}"
            )
        configs = {}
        for name in mix:
            config = kwargs.get(name, {})
            if not isinstance(config, Mapping):
                raise ValueError(f"dataset_kwargs[{name!r}] must be a mapping of config fields, got {config!r}")
            configs[name] = dict(config)
    for name, config in configs.items():
        where = "dataset_kwargs" if single else f"dataset_kwargs[{name!r}]"
        reserved = [key for key in _RESERVED_KWARGS if key in config]
        if reserved:
            raise ValueError(f"{where} may not set {reserved}: the env options dataset_seed and dataset_size do")
        try:
            made = DATASETS[name][1](**config)
            if hasattr(made, "validate"):
                made.validate()
        except Exception as error:  # TypeError (unknown field), AssertionError / ValueError (validate)
            raise ValueError(
                f"{where} are not a valid config of reasoning-gym dataset {name!r}: {type(error).__name__}: {error}"
            ) from error
    return configs


def _key(value: Any) -> str:
    """A cache key of ``value`` (configs may hold enums or tuples: their ``repr`` stands in for them)."""
    return json.dumps(value, sort_keys=True, default=repr)


class _Source:
    """The ``CompositeDataset`` of one set of checked options, each dataset's ``{"name", "config"}`` (the exact
    keyword arguments it was built with) and the held-out rows."""

    def __init__(self, specs: list[dict[str, Any]], seed: int, size: int, test_size: int) -> None:
        from reasoning_gym.composite import CompositeConfig, CompositeDataset, DatasetSpec

        datasets = [DatasetSpec(spec["name"], spec["weight"], spec["config"]) for spec in specs]
        self.composite = CompositeDataset(CompositeConfig(size=size, seed=seed, datasets=datasets))
        self.sources = {spec["name"]: {"name": spec["name"], "config": spec["config"]} for spec in specs}
        self.test = tuple(self.row(index) for index in range(test_size))

    def row(self, index: int) -> dict[str, Any]:
        """Item ``index`` as a prompt row."""
        entry = self.composite[index]
        source = self.sources[entry["metadata"]["source_dataset"]]
        return {"prompt": entry["question"], "entry": entry, "dataset": source}


_SOURCES: dict[str, _Source] = {}
_MAX_SOURCES = 8


def _source(
    dataset: str | Mapping[str, float],
    dataset_kwargs: Mapping[str, Any] | None,
    dataset_seed: int,
    dataset_size: int,
    test_size: int,
) -> _Source:
    """The checked options' ``_Source``, built once per process and options (the last ``_MAX_SOURCES`` kept)."""
    check_positive_int("dataset_seed", dataset_seed, minimum=0)
    check_positive_int("test_size", test_size)
    check_positive_int("dataset_size", dataset_size, minimum=test_size + 1)
    mix = _weights(dataset)
    configs = _configs(mix, dataset_kwargs, isinstance(dataset, str))
    specs = [
        {"name": name, "weight": weight, "config": {**config, "seed": dataset_seed + i + 1, "size": dataset_size}}
        for i, ((name, weight), config) in enumerate(zip(mix.items(), configs.values(), strict=True))
    ]
    key = _key([specs, dataset_seed, dataset_size, test_size])
    if key not in _SOURCES:
        if len(_SOURCES) >= _MAX_SOURCES:
            del _SOURCES[next(iter(_SOURCES))]
        _SOURCES[key] = _Source(specs, dataset_seed, dataset_size, test_size)
    return _SOURCES[key]


def reasoning_prompts(
    split: str = "train",
    dataset: str | Mapping[str, float] = DEFAULT_DATASET,
    dataset_kwargs: Mapping[str, Any] | None = None,
    dataset_seed: int = 0,
    dataset_size: int = DEFAULT_SIZE,
    test_size: int = TEST_SIZE,
) -> GeneratedPrompts | list[dict[str, Any]]:
    """The prompts of ``TextGenReasoning-v0`` (the module docstring describes the options).

    Returns:
        ``train``: a ``GeneratedPrompts`` drawing items ``test_size .. dataset_size - 1`` (test questions skipped);
        ``test``: the rows of items ``0 .. test_size - 1``, fixed.

    Raises:
        MissingExtraError: reasoning-gym is not installed.
        ValueError: an unknown split or dataset name, a bad weight, or ``dataset_kwargs`` the dataset's config
            rejects (its error quoted).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for a procedural task, got {split!r}")
    source = _source(dataset, dataset_kwargs, dataset_seed, dataset_size, test_size)
    if split == "test":
        return [dict(row) for row in source.test]
    return GeneratedPrompts(
        lambda rng: source.row(int(rng.integers(test_size, dataset_size))),
        FIELD_NAMES,
        salt=TRAIN_SALT,
        exclude={row["prompt"] for row in source.test},
    )


def answer_completion(entry: Mapping[str, Any]) -> str:
    """The completion the prompt asks for when the answer is ``entry["answer"]``: ``<answer>...</answer>``."""
    return f"<answer>{entry['answer']}</answer>"


class ReasoningGymReward(BaseRewardModel):
    """Spec ``"reasoning-gym"``: the ``score_answer`` (in [0, 1]) of the reasoning-gym dataset that made each row's
    ``entry`` (field ``dataset``: its name and config), on the completion's last ``<answer>...</answer>``
    (``reasoning_gym.utils.extract_answer``; no tags: ``None``, which scores 0). An answer the dataset's scorer
    cannot parse (it raises) scores 0. Exact: ``TextGenReasoning-v0``'s proxy and gold metric."""

    def __init__(self) -> None:
        self._reasoning_gym = _reasoning_gym()
        self._scorers: dict[str, Any] = {}

    def _scorer(self, dataset: Mapping[str, Any]) -> Any:
        key = _key(dataset)
        if key not in self._scorers:
            self._scorers[key] = self._reasoning_gym.create_dataset(dataset["name"], **dataset["config"])
        return self._scorers[key]

    def score(
        self, prompts: Sequence[str], completions: Sequence[str], entry: Sequence[Any], dataset: Sequence[Any]
    ) -> np.ndarray:
        from reasoning_gym.utils import extract_answer

        scores = np.zeros(len(completions))
        for index, (completion, item, source) in enumerate(zip(completions, entry, dataset, strict=True)):
            scorer = self._scorer(source)
            try:
                score = float(scorer.score_answer(extract_answer(completion), item))
            except Exception:  # the dataset's parser rejected the answer (e.g. prime_factorization on words)
                score = 0.0
            scores[index] = min(max(score, 0.0), 1.0) if np.isfinite(score) else 0.0
        return scores
