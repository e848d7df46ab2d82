"""Task SFT policies: each task's supervised warm start, built once by a fixed recipe and cached.

``task_sft_policy(env_id)`` writes the task's demonstrations (``text_gym.task_demonstrations``, ``train`` split
only), fine-tunes the recipe's base policy on them (``train_sft``) and keeps the result under the project's model
cache (``reward_models.common.packaged.cache_dir()``, like the SmolLM2 conversion), in a folder keyed by a hash of
the recipe and ``RECIPE_CODE_VERSION``: a changed recipe builds a new folder, an unchanged one is reused. The folder
is written atomically (``write_folder_atomically``), and a file lock makes a second process that asks for the same
policy while it is being built wait and reuse the first one's, instead of training it again; the holder of the lock
removes what a killed build left (its temporary folder) first.

The policy spec ``"sft:<env id>"`` (``SFT_SPEC_PREFIX``) names it wherever a policy is asked for (``--policy
sft:TextGenSupport-v0``, ``PPO("sft:TextGenSupport-v0", env)``): ``agents.common.policy.resolve_policy`` builds or
finds it. ``TASK_SFT_RECIPES`` is the one table of recipes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SFT_SPEC_PREFIX = "sft:"
"""A policy spec ``"sft:<env id>"`` is the cached SFT policy of that task (``task_sft_policy``)."""
RECIPE_CODE_VERSION = 1
"""Part of every cache key: raise it when a change to the demonstrations or to ``train_sft`` changes what a recipe
builds, so that every cached policy is rebuilt."""
CACHE_FOLDER = "sft"
"""The task policies' folder inside ``cache_dir()``."""
RECIPE_FILE = "recipe.json"
DEMOS_FILE = "demos.jsonl"


@dataclass(frozen=True)
class TaskSFTRecipe:
    """How a task's SFT policy is built: deterministic in all fields.

    Attributes:
        demos: demonstrations to train on (``task_demonstrations`` ``count``, >= 1).
        imperfect: the fraction of deliberately imperfect ones, in [0, 1], which places the SFT start below the
            task's ceiling so that RL has room to improve.
        seed: the demonstrations' seed and ``SFTConfig.seed``.
        policy: the base policy fine-tuned (and the env's tokenizer the demonstrations are played in).
        sft: ``SFTConfig`` fields besides ``policy``, ``data``, ``output_dir``, ``seed`` and ``progress_bar``
            (e.g. ``num_train_epochs``, ``learning_rate``, ``lora_r``; ``lora_r=0``: full fine-tuning).
    """

    demos: int
    imperfect: float
    seed: int = 0
    policy: str = "smollm2"
    sft: Mapping[str, Any] = field(default_factory=dict)

    def sft_config(self, output_dir: str | Path, progress_bar: bool = False):
        """The ``SFTConfig`` of this recipe, writing to ``output_dir`` (``ValueError`` for a bad field)."""
        from agents.sft.config import SFTConfig

        reserved = sorted({"policy", "data", "output_dir", "seed", "progress_bar"} & set(self.sft))
        if reserved:
            raise ValueError(f"sft must not set {reserved}: the recipe sets them")
        return SFTConfig(
            policy=self.policy, output_dir=str(output_dir), seed=self.seed, progress_bar=progress_bar, **self.sft
        )

    def key(self, env_id: str) -> str:
        """The cache key: a hash of ``env_id``, every field and ``RECIPE_CODE_VERSION`` (16 hex digits)."""
        record = {"env_id": env_id, "code_version": RECIPE_CODE_VERSION, **dataclasses.asdict(self)}
        record["sft"] = dict(sorted(record["sft"].items()))
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


TASK_SFT_RECIPES: dict[str, TaskSFTRecipe] = {
    # Measured (docs/notes/support_sft_placement.md, 2026-12-08): 10/30 held-out successes at temperature 1, in 7 of
    # the 10 scenarios; the same with perfect demonstrations gave 22/30 (above the 10-60 % band), one epoch of
    # perfect ones 6/30 in 4 scenarios, from which no RL run of the CPU size gained.
    "TextGenSupport-v0": TaskSFTRecipe(
        demos=120,
        imperfect=0.3,
        sft={"num_train_epochs": 3, "learning_rate": 1e-4, "lora_r": 0, "per_device_train_batch_size": 4},
    ),
    # Measured by `text-gym bench algos` (docs/benchmarks.md, 2026-12-07): held-out exact answers after SFT 0.271
    # [0.250, 0.312] (IQM over 3 eval seeds of 16 rows), instruct all-constraints 0.208 [0.188, 0.250]; built in
    # 192 s / 238 s on 2 cores. No sweep over these recipes.
    "TextGenArithmetic-v0": TaskSFTRecipe(
        demos=120, imperfect=0.3, sft={"num_train_epochs": 2, "learning_rate": 2e-5, "lora_r": 0}
    ),
    "TextGenInstruct-v0": TaskSFTRecipe(
        demos=120, imperfect=0.3, sft={"num_train_epochs": 2, "learning_rate": 2e-5, "lora_r": 0}
    ),
}
"""The recipe of each task with an SFT policy (the tasks with demonstrations: ``text_gym.tasks.demonstrations``).
The one place to change a recipe; a changed one is rebuilt on next use."""


def task_sft_folder(env_id: str, recipe: TaskSFTRecipe | None = None) -> Path:
    """Where ``task_sft_policy`` keeps ``env_id``'s policy for ``recipe`` (default ``TASK_SFT_RECIPES[env_id]``):
    ``<cache_dir>/sft/<env id>-<recipe key>``, the policy in its ``final`` subfolder.

    Raises:
        ValueError: ``env_id`` has no recipe and none was given.
    """
    from reward_models.common.packaged import cache_dir

    recipe = _recipe_of(env_id, recipe)
    return cache_dir() / CACHE_FOLDER / f"{env_id}-{recipe.key(env_id)}"


def task_sft_policy(env_id: str, recipe: TaskSFTRecipe | None = None, progress: bool = False) -> Path:
    """The SFT policy folder of ``env_id`` built by ``recipe`` (default ``TASK_SFT_RECIPES[env_id]``), built on
    first use and cached (``task_sft_folder``).

    The build writes ``recipe.demos`` demonstrations from the train split, runs ``train_sft`` on them and keeps
    ``recipe.json``, ``demos.jsonl``, ``summary.json`` and the policy (``final/``: an HF folder, or an adapter
    folder with LoRA), without the Trainer checkpoints. Concurrent calls for the same recipe build it once.

    Args:
        env_id: a task with demonstrations.
        recipe: the recipe (default: the table's).
        progress: show the demonstrations' and the training's progress bars.

    Returns:
        The policy folder, ``<task_sft_folder>/final``; it loads wherever a policy is asked for.

    Raises:
        ValueError: ``env_id`` has no recipe and none was given, or the recipe is invalid.
    """
    from reward_models.common.atomic_folder import write_folder_atomically

    recipe = _recipe_of(env_id, recipe)
    target = task_sft_folder(env_id, recipe)
    if not target.is_dir():
        recipe.sft_config(target)  # a bad field fails before anything is built (nothing is written here)
        with _build_lock(target):
            for stale in target.parent.glob(f".{target.name}.tmp-*"):  # a killed build's; none runs now
                shutil.rmtree(stale, ignore_errors=True)
            write_folder_atomically(target, lambda folder: _build(env_id, recipe, folder, progress), replace=False)
    return target / "final"


def _recipe_of(env_id: str, recipe: TaskSFTRecipe | None) -> TaskSFTRecipe:
    if recipe is not None:
        return recipe
    if env_id not in TASK_SFT_RECIPES:
        raise ValueError(
            f"no SFT recipe for env id {env_id!r}; tasks with one (agents.sft.TASK_SFT_RECIPES): "
            f"{sorted(TASK_SFT_RECIPES)}"
        )
    return TASK_SFT_RECIPES[env_id]


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<target>.lock`` (a sibling file) while one process builds ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(env_id: str, recipe: TaskSFTRecipe, folder: Path, progress: bool) -> None:
    """Fill ``folder``: the demonstrations, the SFT run (its policy in ``final``) and the recipe."""
    from agents.sft.trainer import CHECKPOINTS, train_sft
    from reward_models.common.jsonl import write_jsonl_objects
    from text_gym import task_demonstrations

    demonstrations = task_demonstrations(
        env_id, recipe.demos, recipe.seed, recipe.imperfect, tokenizer=recipe.policy, progress=progress
    )
    write_jsonl_objects(folder / DEMOS_FILE, demonstrations)
    train_sft(recipe.sft_config(folder, progress), [d["messages"] for d in demonstrations])
    shutil.rmtree(folder / CHECKPOINTS, ignore_errors=True)
    record = {"env_id": env_id, "code_version": RECIPE_CODE_VERSION, "recipe": dataclasses.asdict(recipe)}
    record["recipe"]["sft"] = dict(record["recipe"]["sft"])
    (folder / RECIPE_FILE).write_text(json.dumps(record, indent=2) + "\n")


def resolve_sft_spec(policy: str) -> str:
    """The folder of an ``"sft:<env id>"`` spec (built on first use, ``task_sft_policy``), as a string; ``policy``
    itself when it is not such a spec.

    Raises:
        ValueError: an ``sft:`` spec naming an env id without a recipe.
    """
    if not policy.startswith(SFT_SPEC_PREFIX):
        return policy
    return str(task_sft_policy(policy[len(SFT_SPEC_PREFIX) :], progress=True))
