"""``text-gym bench prefix``: what prefix sharing (``share_prompt``) saves in the reference forward and the update.

A batch of ``prompts`` prompts of ``prompt_tokens`` random token ids (seeded), each held by ``group_size`` rows,
and ``new_tokens`` random tokens after each row's prompt (no padding). Timed with sharing off and on, alternately
in one process, best of ``repeats``: the reference forward (``LMPolicy.forward`` under ``no_grad``, eval mode) and
the update's forward + backward (train mode, the gradient of the log-probs' sum; no optimizer step). One untimed
round warms both up. The two sides compute the same log-probs and gradients (tests/test_prefix_sharing.py).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from reward_models.common import check_positive_int
from scripts.bench.cli import Benchmark, check_positive_ints, run_as_script
from scripts.bench.report import machine_line, write_rows


@dataclass
class BenchPrefixConfig:
    """Prefix-sharing benchmark."""

    policy: str = field(default="smollm2", metadata={"help": "hub id, local folder or 'smollm2'"})
    prompts: int = field(default=8, metadata={"help": "distinct prompts per batch"})
    group_size: int = field(default=4, metadata={"help": "rows per prompt (GRPO / RLOO's group_size)"})
    prompt_tokens: list[int] = field(default_factory=lambda: [64, 256], metadata={"help": "prompt lengths to time"})
    new_tokens: int = field(default=32, metadata={"help": "tokens after each prompt"})
    repeats: int = field(default=3, metadata={"help": "timed runs of each side per setting (best is reported)"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu', 'cuda', ..."})
    output: str | None = field(default=None, metadata={"help": "also write the results as JSON to this path"})

    def __post_init__(self) -> None:
        for name in ("prompts", "group_size", "new_tokens", "repeats"):
            check_positive_int(name, getattr(self, name))
        check_positive_ints("prompt_tokens", self.prompt_tokens)


def _reference(policy, input_ids, attention_mask, response_start: int) -> None:
    """The reference forward of ``input_ids`` ``[B, S]``: eval mode, no gradients."""
    import torch

    policy.eval()
    with torch.no_grad():
        policy(input_ids, attention_mask, response_start)


def _update(policy, input_ids, attention_mask, response_start: int) -> None:
    """The update's forward + backward of ``input_ids`` ``[B, S]`` (train mode; the gradient of the log-probs' sum)."""
    policy.train()
    policy.zero_grad(set_to_none=True)
    logprobs, _ = policy(input_ids, attention_mask, response_start)
    logprobs.sum().backward()


def _timed(run, device) -> float:
    import torch

    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def run_benchmark(config: BenchPrefixConfig) -> list[dict]:
    """One row per prompt length: the best seconds of each phase with sharing off and on, and their ratios."""
    import torch

    from agents import LMPolicy
    from reward_models.common import resolve_device

    device = resolve_device(config.device)
    policy = LMPolicy.from_pretrained(config.policy).to(device)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for prompt_tokens in config.prompt_tokens:
        prompts = torch.randint(policy.num_actions, (config.prompts, prompt_tokens), generator=generator)
        responses = torch.randint(
            policy.num_actions, (config.prompts * config.group_size, config.new_tokens), generator=generator
        )
        ids = torch.cat([prompts.repeat_interleave(config.group_size, 0), responses], 1).to(device)
        batch = (policy, ids, torch.ones_like(ids), prompt_tokens)
        reference, update = functools.partial(_reference, *batch), functools.partial(_update, *batch)
        best = {(phase, share): float("inf") for phase in ("reference", "update") for share in (False, True)}
        for round_ in range(config.repeats + 1):
            for share in (False, True):
                policy.share_prompt = share
                for phase, run in (("reference", reference), ("update", update)):
                    seconds = _timed(run, device)
                    if round_:  # round 0 warms up
                        best[phase, share] = min(best[phase, share], seconds)
        row = {"prompt_tokens": prompt_tokens, "new_tokens": config.new_tokens, "rows": ids.shape[0]}
        for phase in ("reference", "update"):
            row[f"{phase}_s"] = best[phase, False]
            row[f"{phase}_shared_s"] = best[phase, True]
            row[f"{phase}_ratio"] = best[phase, True] / best[phase, False]
        rows.append(row)
        print(markdown_table(rows[-1:], header=len(rows) == 1), flush=True)
    policy.zero_grad(set_to_none=True)
    return rows


def markdown_table(rows: list[dict], header: bool = True) -> str:
    """Markdown: seconds of each phase without / with sharing and their ratio per prompt length."""
    lines = (
        [
            "| prompt tokens | new tokens | rows | reference s (off / on) | ratio | update s (off / on) | ratio |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        if header
        else []
    )
    lines += [
        f"| {r['prompt_tokens']} | {r['new_tokens']} | {r['rows']} | {r['reference_s']:.3f} / "
        f"{r['reference_shared_s']:.3f} | {r['reference_ratio']:.2f} | {r['update_s']:.3f} / "
        f"{r['update_shared_s']:.3f} | {r['update_ratio']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(config: BenchPrefixConfig) -> int:
    """Print the rows as they are measured and write ``config.output``."""
    print(f"{machine_line()}, policy {config.policy}, {config.prompts} prompts x {config.group_size} rows")
    write_rows(config.output, config, run_benchmark(config))
    return 0


BENCHMARK = Benchmark(
    "prefix", BenchPrefixConfig, main, "reference and update time with and without prefix sharing", __doc__
)


if __name__ == "__main__":
    run_as_script("prefix")
