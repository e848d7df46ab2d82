"""``text-gym bench algos`` at toy size: a tiny GPT-2 on two suite tasks; the outputs have the right structure."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import make_tiny_tokenizer

from scripts.bench_algos import DOC_BEGIN, DOC_END, BenchAlgosConfig, run_benchmark

WORDS = "the a i we it was is very good great happy bad sad river garden music word use write sentence . , ! ?".split()


def tiny_policy(seed: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=len(WORDS) + 3, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                      bos_token_id=2, eos_token_id=2, pad_token_id=0))


def test_bench_algos_writes_results_table_plots_and_doc_section(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nkept above\n\n{DOC_BEGIN}\nold results\n{DOC_END}\n\nkept below\n")
    config = BenchAlgosConfig(algos=["ppo", "rloo"], tasks=["TextGenSentiment-v0", "TextGenKeyword-v0"],
                              seeds=[0, 1], total_timesteps=32, n_envs=4, max_new_tokens=4, device="cpu",
                              output_dir=str(tmp_path / "out"), doc=str(doc), progress_bar=False)
    results = run_benchmark(config, tiny_policy, {"tokenizer": make_tiny_tokenizer(WORDS), "max_prompt_tokens": 16,
                                                  "truncation": "left"})
    runs = results["runs"]
    assert [(r["task"], r["algo"], r["seed"]) for r in runs] == [
        (t, a, s) for t in config.tasks for a in config.algos for s in config.seeds]
    for run in runs:
        curve = run["curve"]
        assert run["updates"] == len(curve["tokens"]) >= 2  # at most 4 envs x 4 tokens = 16 tokens per update
        assert all(0 < b - a <= 16 for a, b in zip([0.0] + curve["tokens"], curve["tokens"]))
        assert curve["tokens"][-1] == run["tokens"] >= 32
        assert all(math.isfinite(v) for key in ("proxy", "gold", "kl") for v in curve[key])
        if run["task"] == "TextGenKeyword-v0":  # exact task: proxy and gold are the same 0/1 reward
            assert curve["proxy"] == curve["gold"] and all(0.0 <= v <= 1.0 for v in curve["proxy"])
            assert run["proxy_after"] == run["gold_after"]
        assert run["learn_s"] > 0
    assert len(results["summary"]) == 4
    for row in results["summary"]:
        assert row["seeds"] == 2 and row["tokens"]["mean"] >= 32
        assert row["gold_after"]["std"] >= 0
    out = tmp_path / "out"
    saved = json.loads((out / "results.json").read_text())
    assert saved["summary"] == results["summary"] and saved["machine"]["device"] == "cpu"
    assert (out / "results.md").read_text().count("\n") == 2 + 4
    for name in ("curves_TextGenSentiment-v0.png", "curves_TextGenKeyword-v0.png", "overoptimisation.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / name).is_file()  # copied next to the doc
    assert list((out / "tensorboard" / "TextGenKeyword-v0").iterdir())
    text = doc.read_text()
    assert "kept above" in text and "kept below" in text and "old results" not in text
    assert "| TextGenKeyword-v0 | rloo | 2 |" in text and "![overoptimisation](overoptimisation.png)" in text


def test_bench_algos_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="algos must be a non-empty list"):
        run_benchmark(BenchAlgosConfig(algos=["dqn"], output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="tasks must be a non-empty list"):
        run_benchmark(BenchAlgosConfig(tasks=["TextGen-v0"], output_dir=str(tmp_path)))
