"""The random generators an agent draws from in training, one set per process, and their checkpoint state.

Python's, NumPy's and torch's global generators (dropout, for one) are checkpointed by accelerate's ``save_state``
itself (a ``random_states_<process>.pkl`` per process); these are the agent's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.common.distributed import Reducer


class ProcessGenerators:
    """This process's generators, seeded with ``seed`` (the config's seed + the process index).

    Attributes:
        sample: the token sampler's generator, on ``device``.
        shuffle: the minibatch order's generator (CPU), seeded ``seed + 1``.
        prompts: the prompt draws' NumPy generator.

    ``state_dict`` gathers every process's states (a collective: every process calls it, as accelerate's
    ``save_state`` does) so the main process's checkpoint holds them all; ``load_state_dict`` takes this process's.
    """

    def __init__(self, seed: int, device: torch.device, reducer: Reducer, process_index: int) -> None:
        self.sample = torch.Generator(device).manual_seed(seed)
        self.shuffle = torch.Generator().manual_seed(seed + 1)
        self.prompts = np.random.default_rng(seed)
        self.reducer = reducer
        self.process_index = process_index

    def state_dict(self) -> dict[str, list[dict[str, Any]]]:
        own = {
            "sample": self.sample.get_state(),
            "shuffle": self.shuffle.get_state(),
            "prompts": self.prompts.bit_generator.state,
        }
        return {"processes": self.reducer.gather_objects([own])}

    def load_state_dict(self, state: dict[str, list[dict[str, Any]]]) -> None:
        processes = state["processes"]
        if len(processes) != self.reducer.num_processes:
            raise ValueError(
                f"the checkpoint holds the generators of {len(processes)} processes; resume it with "
                f"{len(processes)} processes, not {self.reducer.num_processes}"
            )
        own = processes[self.process_index]
        self.sample.set_state(own["sample"].cpu())
        self.shuffle.set_state(own["shuffle"].cpu())
        self.prompts.bit_generator.state = own["prompts"]
