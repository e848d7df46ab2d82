"""``text-gym bench gpu``: the dry run prints the plan and the environment check, the real run is refused without
CUDA, and the CPU mode runs the same code path on a tiny Llama and writes the doc section (structure, not speed)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_tiny_tokenizer

from scripts.bench.gpu import PLANNING, ROLLOUT_CASES, BenchGPUConfig, report, run_benchmark
from scripts.bench.report import doc_markers
from scripts.cli import main


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    from tiny_lm import tiny_llama

    tokenizer = make_tiny_tokenizer()
    folder = tmp_path_factory.mktemp("tiny_llama")
    tiny_llama(vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_dry_run_prints_the_plan_and_the_real_run_is_refused_without_cuda(tiny_llama_dir, capsys):
    assert main(["bench", "gpu", "--dry-run", "--policy", tiny_llama_dir]) == 1
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [line.split(" | ")[1:4] for line in table] == [
        ["rollout", case, f"{batch} x 128"]
        for batch in (64, 256)
        for case in ("env:dynamic", "env:static-compiled", "generate:dynamic", "generate:static-compiled")
    ] + [["iteration", case, "64 x 128, 3 iterations"] for case in ("ours", "ours-lora")] + [
        ["grpo", case, "64 x 128, 3 iterations"] for case in ("ours", "ours-lora", "trl", "trl-lora")
    ]
    estimates = [float(line.split(" | ")[4].rstrip(" |")) for line in table]
    total = float(out.split("estimated total: ")[1].split(" min")[0])
    assert all(e > 0 for e in estimates)
    assert abs(total * 60 - (PLANNING["setup_s"] + sum(estimates))) <= 3 + 0.05 * len(estimates)  # rounding
    assert "FAIL CUDA: not available" in out and "--device cpu runs the same code path" in out
    assert "supports a StaticCache" in out and out.rstrip().endswith("ready: no")

    assert main(["bench", "gpu", "--dry-run", "--policy", tiny_llama_dir, "--device", "cpu"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ready: yes")

    assert main(["bench", "gpu", "--policy", tiny_llama_dir, "--output-dir", "never-written"]) == 1
    err = capsys.readouterr().err
    assert "error: the environment check failed: CUDA: not available" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rollout-cases", "env:paged"], "rollout_cases must be cases from"),
        (["--iteration-cases", "ours-grpo-typo"], "iteration_cases must be cases from"),
        (["--iterations", "1"], "iterations"),
        (["--iteration-batch", "6", "--minibatch-size", "4", "--group-size", "3"], "multiple of minibatch_size"),
        (["--group-size", "3"], "group_size must be >= 2 and divide iteration_batch=64, got 3"),
        (["--group-cases", "trl-ppo"], "group_cases must be cases from"),
        (["--group-kl-coef", "-1"], "group_kl_coef must be a finite number >= 0, got -1.0"),
    ],
)
def test_bad_flags_are_refused_by_name(flags, message, capsys):
    assert main(["bench", "gpu", "--dry-run", *flags]) in (1, 2)
    assert message in capsys.readouterr().err


def test_cpu_mode_runs_every_part_and_writes_the_doc_section(tiny_llama_dir, tmp_path):
    begin, end = doc_markers("gpu")
    doc = tmp_path / "gpu" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text(f"# GPU\n\nkept above\n\n{begin}\nno figures yet\n{end}\n\nkept below\n")
    eager = [case for case in ROLLOUT_CASES if not case.endswith("static-compiled")]
    config = BenchGPUConfig(
        policy=tiny_llama_dir,
        random_init=True,
        device="cpu",
        dtype="float32",
        batch_sizes=[2, 3],
        new_tokens=4,
        repeats=1,
        rollout_cases=eager,
        iteration_cases=["ours"],
        iteration_batch=2,
        iteration_new_tokens=3,
        iterations=2,
        minibatch_size=2,
        iteration_rollout_cache="static",
        group_cases=["ours"],
        group_size=2,
        output_dir=str(tmp_path / "out"),
        doc=str(doc),
    )
    results = run_benchmark(config)

    assert [(r["batch"], r["case"]) for r in results["rollout"]] == [(b, c) for b in (2, 3) for c in eager]
    for row in results["rollout"]:
        assert row["tokens_per_s"] > 0 and len(row["timed_s"]) == 1 and row["peak_memory_gib"] is None
    (iteration,) = results["iterations"]
    assert iteration["case"] == "ours" and len(iteration["iteration_s"]) == 2 and iteration["median_s"] > 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["config"]["iteration_rollout_cache"] == "static"
    (grpo,) = results["grpo"]
    assert grpo["case"] == "ours" and grpo["algorithm"] == "grpo" and len(grpo["iteration_s"]) == 2
    assert grpo["median_s"] > 0 and set(grpo["phase_median_s"]) >= {"generation", "update"}

    text = doc.read_text()
    assert text.startswith("# GPU\n\nkept above\n\n" + begin) and text.endswith(end + "\n\nkept below\n")
    section = text.split(begin)[1].split(end)[0]
    assert "no figures yet" not in section
    assert "| batch | side | KV cache | tokens/s | vs env dynamic | first run (s) | peak memory (GiB) |" in section
    assert "| 2 | env | dynamic |" in section and "| 3 | generate | static |" in section
    assert "| ours | " in section and "random weights" in section
    assert "**One GRPO iteration**" in section and "1 prompts x 2 completions x 3 tokens" in section
    assert "| GRPO | 0.04 | ours |" in section
    assert "--random-init --device cpu --dtype float32 --batch-sizes 2 3 --new-tokens 4 --repeats 1" in section
    baseline_rows = [
        line for line in section.splitlines() if line.startswith(("| 2 | env | dynamic |", "| 3 | env | dynamic |"))
    ]
    assert len(baseline_rows) == 2 and all(" | 1.00 | " in line for line in baseline_rows)  # env:dynamic vs itself
    assert "Partial" not in section
    # The outputs are rewritten after every case: a run stopped before its last case says so.
    assert "**Partial**: 9 of 10 cases measured so far." in report({**results, "iterations": []})
