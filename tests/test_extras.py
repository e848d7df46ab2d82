"""A light core: the optional packages are extras, and using one that is missing names its pip install command."""

import subprocess
import sys
from pathlib import Path

import pytest

from reward_models import MissingExtraError, require_extra
from scripts.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = {
    "flask": "label",
    "matplotlib": "plot",
    "vaderSentiment": "vader",
    "gguf": "gguf",
    "sb3_contrib": "sb3",
    "reasoning_gym": "reasoning",
}
EXTRAS.update({"profanity_check": "safety", "better_profanity": "safety"})


def test_core_dependencies_leave_the_optional_packages_to_extras():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    for package in ("flask", "matplotlib", "vadersentiment", "gguf", "sb3-contrib", "trl", "profanity"):
        assert package not in core
    extras = project["optional-dependencies"]
    assert extras["label"] == ["flask>=3.0"] and extras["vader"] == ["vaderSentiment>=3.3"]
    assert "text-gym[all,libs]" in extras["test"]  # the test suite exercises every extra
    assert extras["safety"] == ["alt-profanity-check>=1.9", "better-profanity>=0.7"] and "safety" in extras["all"][0]
    # bench does not pin trl; the maintained comparison (and the suite, through all) gets trl >= 1.13, the old PPO
    # trainer its own extra
    assert not any(d.startswith("trl") for d in extras["bench"]) and "trl>=1.13" in extras["bench-trl"]
    assert "bench-trl," in extras["all"][0] and "trl>=1.0,<1.13" in extras["bench-trl-ppo"]


def test_the_core_imports_without_any_extra():
    blocked = ", ".join(f"{name!r}: None" for name in (*EXTRAS, "trl"))
    code = (
        f"import sys; sys.modules.update({{{blocked}}}); "
        "import text_gym, reward_models, agents, agents.sb3, reward_models.human; "
        "from scripts.cli import build_parser; build_parser(); "
        "from agents.sb3 import LMActorCriticPolicy, SB3VecEnv; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_require_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # as if Flask were not installed
    with pytest.raises(MissingExtraError, match=r'the labelling page needs .*flask.*pip install "text-gym\[label\]"'):
        require_extra("flask", "label", "the labelling page")
    assert require_extra("json", "none", "json").dumps([1]) == "[1]"


def test_require_extra_reraises_a_broken_dependency_of_an_installed_module(tmp_path, monkeypatch):
    (tmp_path / "installed_pkg.py").write_text("import missing_dependency_of_installed_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as error:
        require_extra("installed_pkg", "x", "a feature")
    assert not isinstance(error.value, MissingExtraError)


@pytest.mark.parametrize("spec", ["vader", "vader:with-prompt"])
def test_a_missing_extra_at_the_point_of_use(spec, monkeypatch):
    from reward_models import make_reward_model

    for module in ("vaderSentiment", "vaderSentiment.vaderSentiment"):  # as if vaderSentiment were not installed
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r'VADER sentiment\) needs .*pip install "text-gym\[vader\]"'):
        make_reward_model(spec)


def test_the_cli_reports_a_missing_extra_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "flask", None)
    candidates = tmp_path / "candidates.jsonl"
    argv = ["label", "serve", "--candidates", str(candidates), "--output", str(tmp_path / "labels.jsonl")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (
        "text-gym label serve: error: the labelling page needs the optional package 'flask': "
        'pip install "text-gym[label]"\n'
    )
    assert not candidates.exists()
