"""The one ``"auto"`` device rule (CUDA, else MPS, else CPU) on the reward-model side (``resolve_device``) and in
the agents' accelerator (``make_accelerator``), with the machine's CUDA / MPS availability monkeypatched."""

from __future__ import annotations

import pytest
import torch

from agents.common.distributed import make_accelerator
from reward_models import resolve_device

AVAILABLE = {"cuda": (True, False), "mps": (False, True), "none": (False, False), "both": (True, True)}
"""Machine -> (CUDA available, MPS available)."""
EXPECTED = {"cuda": "cuda", "mps": "mps", "none": "cpu", "both": "cuda"}


def pretend(monkeypatch, machine: str) -> None:
    cuda, mps = AVAILABLE[machine]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


class RecordingAccelerator:
    """Stands in for ``accelerate.Accelerator``: records its arguments and places like accelerate does (CPU when
    told ``cpu=True``, else the machine's accelerator: CUDA, or MPS)."""

    def __init__(self, cpu: bool = False, mixed_precision: str = "no") -> None:
        self.cpu, self.mixed_precision = cpu, mixed_precision
        if cpu:
            self.device = torch.device("cpu")
        elif torch.cuda.is_available():
            self.device = torch.device("cuda")
        elif torch.backends.mps.is_available():
            self.device = torch.device("mps")
        else:
            self.device = torch.device("cpu")


@pytest.mark.parametrize("machine", sorted(AVAILABLE))
def test_auto_resolves_cuda_then_mps_then_cpu(monkeypatch, machine):
    pretend(monkeypatch, machine)
    assert resolve_device("auto") == torch.device(EXPECTED[machine])
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cuda:1")).index == 1


@pytest.mark.parametrize("machine", sorted(AVAILABLE))
def test_the_agents_accelerator_follows_the_same_rule(monkeypatch, machine):
    import accelerate

    pretend(monkeypatch, machine)
    monkeypatch.setattr(accelerate, "Accelerator", RecordingAccelerator)
    accelerator = make_accelerator("auto", "bfloat16")
    assert accelerator.device == resolve_device("auto") == torch.device(EXPECTED[machine])
    assert accelerator.cpu == (EXPECTED[machine] == "cpu") and accelerator.mixed_precision == "bf16"
    assert make_accelerator("cpu", "float32").cpu is True  # an explicit cpu stays on the CPU on any machine


def test_the_real_accelerator_on_a_machine_without_cuda_or_mps(monkeypatch):
    pretend(monkeypatch, "none")
    assert make_accelerator("auto", "float32").device == torch.device("cpu")


@pytest.mark.parametrize("machine", ["mps", "none"])
def test_an_unavailable_device_or_an_unknown_name_is_refused(monkeypatch, machine):
    pretend(monkeypatch, machine)
    with pytest.raises(ValueError, match="device='cuda' but torch sees no CUDA device"):
        make_accelerator("cuda", "float32")
    if machine == "none":
        with pytest.raises(ValueError, match="device='mps' but torch sees no MPS device"):
            make_accelerator("mps", "float32")
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'mps', got 'tpu'"):
        make_accelerator("tpu", "float32")


def test_a_trainer_on_another_device_than_the_one_asked_for_is_refused():
    from reward_models.common.devices import check_trainer_device

    check_trainer_device(torch.device("cpu"), torch.device("cpu"), "cpu")
    check_trainer_device(torch.device("cuda", 0), torch.device("cuda"), "cuda")
    with pytest.raises(
        ValueError, match=r"device='cuda:1' is not a device transformers.Trainer trains on here \(cuda:0\)"
    ):
        check_trainer_device(torch.device("cuda", 0), torch.device("cuda", 1), "cuda:1")
    with pytest.raises(ValueError, match=r"device='cuda' is not a device .* \(cpu\)"):
        check_trainer_device(torch.device("cpu"), torch.device("cuda"), "cuda")
