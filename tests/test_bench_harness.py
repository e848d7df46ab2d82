"""The shared pieces of the benchmarks (scripts/bench/): the fresh-process runner, the memory sampler, the results
writer, the phase clock on a tiny TRL GRPOTrainer run, and the one CLI wiring of every benchmark."""

from __future__ import annotations

import json
import mmap
import os

import pytest
import torch

from scripts.bench.cli import BENCHMARKS, command_line
from scripts.bench.memory import MALLOC_MMAP_THRESHOLD, PeakMemory
from scripts.bench.phases import PHASES, PhaseClock
from scripts.bench.report import doc_markers
from scripts.bench.results import ResultsWriter
from scripts.bench.runner import CaseFailed, run_in_fresh_process
from scripts.cli import main


def case_with_result(n: int) -> dict:
    return {"squares": [i * i for i in range(n)], "pid": os.getpid(), "mmap": os.environ.get("MALLOC_MMAP_THRESHOLD_")}


def case_that_raises(n: int) -> dict:
    raise ValueError(f"n={n} is not a case")


def case_that_dies(status: int) -> dict:
    os._exit(status)


def test_the_fresh_process_runner_returns_a_case_result_from_another_process():
    result = run_in_fresh_process(case_with_result, 4)
    assert result["squares"] == [0, 1, 4, 9]
    assert result["pid"] != os.getpid() and result["mmap"] == MALLOC_MMAP_THRESHOLD


def test_the_fresh_process_runner_reports_a_crashing_case():
    with pytest.raises(CaseFailed, match=r"case_that_raises failed in its process: ValueError: n=3 is not a case"):
        run_in_fresh_process(case_that_raises, 3)
    with pytest.raises(CaseFailed, match=r"case_that_dies ended with exit status 7 without writing a result"):
        run_in_fresh_process(case_that_dies, 7)


def test_the_memory_sampler_sees_a_live_allocation_above_its_baseline():
    size = 64 * 2**20
    with PeakMemory("cpu") as memory:
        # An anonymous mapping: fresh pages, never memory the allocator already holds resident (a bytearray can
        # reuse pages an earlier test freed, and then the RSS does not grow).
        block = mmap.mmap(-1, size)
        for offset in range(0, size, mmap.PAGESIZE):  # touch every page
            block[offset] = 1
    figures = memory.figures()
    assert figures["peak_memory_gib"] >= 0.9 * size / 2**30
    assert figures["peak_rss_gib"] - figures["baseline_rss_gib"] == pytest.approx(figures["peak_memory_gib"])
    assert figures["memory_kind"].startswith("peak RSS above the import baseline")
    block.close()


def test_the_results_writer_rewrites_after_every_case_and_marks_partial_runs(tmp_path):
    begin, end = doc_markers("demo")
    doc = tmp_path / "doc.md"
    doc.write_text(f"above\n{begin}\nold\n{end}\nbelow\n")

    def render(results: dict) -> str:
        return f"{results['measured_cases']} of {results['planned_cases']}: " + ", ".join(
            row["case"] for row in results["part"]
        )

    writer = ResultsWriter(tmp_path / "out", {"config": {"x": 1}, "part": []}, 2, render, str(doc), "demo")
    writer.add("part", {"case": "a"})
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (saved["partial"], saved["measured_cases"], saved["planned_cases"]) == (True, 1, 2)
    assert saved["part"] == [{"case": "a"}] and saved["config"] == {"x": 1}
    assert (tmp_path / "out" / "results.md").read_text() == "1 of 2: a\n"
    assert doc.read_text() == f"above\n{begin}\n1 of 2: a\n{end}\nbelow\n"
    writer.add("part", {"case": "b"})
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["partial"] is False and saved["total_wall_s"] >= 0
    assert doc.read_text() == f"above\n{begin}\n2 of 2: a, b\n{end}\nbelow\n"


def test_the_phase_clock_records_phases_of_a_tiny_trl_grpo_run(tiny_policy_dir, tmp_path):
    from scripts.bench.group import GroupSettings
    from scripts.bench.models import save_reward_model
    from scripts.bench.trl_cases import group_trainer, train_quietly

    reward = save_reward_model(tiny_policy_dir, tmp_path / "rm", 0)
    settings = GroupSettings(tiny_policy_dir, reward, "grpo", prompts=2, group_size=2, new_tokens=3, iterations=3)
    clock = PhaseClock(cuda=False)
    trainer = group_trainer(settings, False, str(tmp_path / "out"), [clock.trainer_callback()])
    clock.watch_trainer(trainer)
    start = clock.now()
    train_quietly(trainer)
    end = clock.now()
    rows = clock.phase_times(end)
    assert len(clock.starts) == len(rows) == 3 and start <= clock.starts[0]
    for row in rows:
        assert list(row) == list(PHASES) and all(seconds >= 0 for seconds in row.values())
        # the reward model, the reference (beta = 0.04) and the update were each seen; GRPO scores nothing twice
        assert row["reward"] > 0 and row["reference"] > 0 and row["update"] > 0 and row["old_logprobs"] == 0
    assert sum(sum(row.values()) for row in rows) <= end - start
    assert {name for name, _, _ in clock.events} == {"reward", "reference", "update"}


def test_the_phase_clock_refuses_an_unknown_role():
    with pytest.raises(ValueError, match="role must be 'policy', 'reference' or 'reward', got 'critic'"):
        PhaseClock(cuda=False).watch(torch.nn.Linear(1, 1), "critic")


@pytest.mark.parametrize("module", BENCHMARKS)
def test_every_benchmark_is_one_config_command(module, capsys):
    import importlib

    benchmark = importlib.import_module(module).BENCHMARK
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", benchmark.name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: text-gym bench {benchmark.name}" in capsys.readouterr().out


def test_command_line_lists_the_fields_that_differ_from_the_defaults():
    from dataclasses import asdict

    from scripts.bench.env import BenchEnvConfig

    config = asdict(BenchEnvConfig(batch_sizes=[2, 4], tokens=500))
    assert command_line("env", BenchEnvConfig, config) == "text-gym bench env --batch-sizes 2 4 --tokens 500"
    assert command_line("env", BenchEnvConfig, config, skip=("tokens",)) == "text-gym bench env --batch-sizes 2 4"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["env", "--batch-sizes", "0"], "batch_sizes must be an integer >= 1, got 0"),
        (["rollout", "--dtype", "float64"], "dtype must be one of"),
        (["sb3", "--cases", "ppo-huge"], "cases must be a non-empty list of cases from"),
        (["algos", "--algos", "dqn"], "algos must be a non-empty list"),
    ],
)
def test_bad_values_are_refused_by_the_config_before_running(flags, message, capsys):
    assert main(["bench", *flags]) == 1
    assert message in capsys.readouterr().err
