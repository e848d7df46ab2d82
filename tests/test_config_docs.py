"""The config tables in docs/agents.md and docs/reward_models.md are what ``python -m scripts.config_docs``
generates from the dataclasses, and the generator follows the dataclasses and the real CLI."""

from __future__ import annotations

import dataclasses

from agents import ALGORITHMS, AlgorithmConfig, PPOConfig
from scripts import config_docs
from scripts.cli import build_parser


def test_the_committed_tables_are_the_generated_ones():
    assert config_docs.stale_sections() == [], "run: python -m scripts.config_docs"


def test_every_field_of_every_algorithm_config_is_listed_with_its_flag_and_default():
    markdown = config_docs.agents_markdown(build_parser())
    for config_class in {cls.config_class for cls, _ in ALGORITHMS.values()}:
        assert f"#### `{config_class.__name__}`" in markdown
        for f in dataclasses.fields(config_class):
            assert f"| `{f.name}` |" in markdown
    assert "| `n_envs` | `--n-envs` | `16` | episodes per rollout" in markdown
    assert "| `checkpoint_dir` | none (from `--output-dir`) | `None` |" in markdown
    assert "| `group_size` | `--group-size` (rloo) | `4` |" in markdown  # GRPOConfig lists its own
    assert '| `baseline` | none (the algorithm name fixes it: reinforce: `"moving_average"`, rloo: `"rloo"`' in markdown


def test_deprecated_alias_fields_are_listed_apart(monkeypatch):
    @dataclasses.dataclass
    class AliasedConfig(PPOConfig):
        old_name: float = dataclasses.field(default=1.0, metadata={"help": "old", "deprecated_alias_of": "new_name"})

    class Aliased:
        config_class = AliasedConfig

    monkeypatch.setitem(ALGORITHMS, "ppo", (Aliased, {}))
    parser = build_parser()
    markdown = config_docs.agents_markdown(parser)
    table, deprecated = markdown.split("Deprecated aliases (they warn):")
    assert "`old_name`" not in table and "| `old_name` | `--old-name` (ppo) | `new_name` |" in deprecated
    flag = config_docs._subcommand(parser, "train", "ppo")._option_string_actions["--old-name"]
    assert flag.help == "deprecated alias of --new-name"
    assert "#### `AliasedConfig` (`text-gym train ppo`): what it adds to `AlgorithmConfig`" in table


def test_check_reports_a_stale_table(tmp_path, capsys):
    for doc in ("agents.md", "reward_models.md"):
        (tmp_path / doc).write_text((config_docs.DOCS / doc).read_text().replace("| `n_envs` |", "| `n_env` |"))
    assert config_docs.main(["--check", "--docs", str(tmp_path)]) == 1
    assert "stale config tables: agents.md:agents-config (run" in capsys.readouterr().err
    assert config_docs.main(["--docs", str(tmp_path)]) == 0 and config_docs.stale_sections(tmp_path) == []


def test_a_changed_help_makes_the_table_stale(monkeypatch):
    changed = {f.name: f for f in dataclasses.fields(AlgorithmConfig)}["seed"]
    monkeypatch.setattr(changed, "metadata", {"help": "a new help text"})
    assert config_docs.stale_sections() == ["agents.md:agents-config"]
