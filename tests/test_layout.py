"""The layout's promises: old flat module paths still import (same module objects) with a DeprecationWarning
naming the new path, and the reward-model spec tables are what the registry holds."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import agents
import reward_models
import text_gym
from reward_models import BUILTIN_SPECS, make_reward_model, no_argument, register_reward_models
from text_gym.tasks.rewards import TASK_REWARD_SPECS

OLD_TO_NEW = [
    ("text_gym.vector", "text_gym.envs.vector"),
    ("text_gym.chat_vector", "text_gym.chat.vector"),
    ("text_gym.users", "text_gym.chat.users"),
    ("text_gym.support", "text_gym.tasks.support"),
    ("text_gym.prompt_rows", "text_gym.prompts.rows"),
    ("reward_models.hf", "reward_models.models.hf"),
    ("reward_models.packaged", "reward_models.common.packaged"),
    ("reward_models.trainer", "reward_models.training.trainer"),
    ("agents.base", "agents.common.base"),
    ("agents.rollout", "agents.common.rollout"),
]


@pytest.mark.parametrize(("old", "new"), OLD_TO_NEW)
def test_an_old_module_path_is_the_new_module_and_warns(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}; import it from there"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == module.__spec__.name == new  # the module keeps its own identity (reload works)


def test_from_old_path_import_a_name_gives_the_same_object():
    sys.modules.pop("text_gym.env", None)
    with pytest.warns(DeprecationWarning, match="text_gym.env moved to text_gym.envs.text_gen"):
        from text_gym.env import TextGenEnv
    assert TextGenEnv is text_gym.TextGenEnv


def test_the_packages_import_without_deprecation_warnings():
    # A fresh interpreter: reloading the packages here would leave other tests holding the old module objects.
    code = "import text_gym, reward_models, agents, agents.sb3"
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_agents_evaluate_stays_the_function():
    assert callable(agents.evaluate) and agents.evaluate.__name__ == "evaluate"


def test_an_unknown_module_under_a_package_still_fails():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("text_gym.no_such_module")


def test_the_registry_holds_the_builtin_and_the_task_tables():
    names = set(reward_models.registered_reward_models())
    assert set(BUILTIN_SPECS) | set(TASK_REWARD_SPECS) == names
    assert set(TASK_REWARD_SPECS) == {
        "prompt-keyword",
        "support-turn",
        "support-success",
        "reasoning-gym",
        "safety-engagement",
    }


def test_registering_a_table_twice_is_harmless_and_a_clash_is_refused():
    register_reward_models(TASK_REWARD_SPECS)
    with pytest.raises(ValueError, match="'support-turn' is already registered"):
        register_reward_models({"support-turn": no_argument("support-turn", lambda: None)})


@pytest.mark.parametrize("spec", ["prompt-keyword:x", "support-success:1", "exact-match:a", "bleu:4"])
def test_a_spec_without_arguments_refuses_one(spec):
    name, _, argument = spec.partition(":")
    with pytest.raises(ValueError, match=rf"reward_model spec '{name}' takes no argument, got '{name}:{argument}'"):
        make_reward_model(spec)
