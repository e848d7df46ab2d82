"""LSTMTokenExtractor: a small non-transformer policy body, an LSTM over the tokens of a TextGen observation.

An SB3 features extractor, so it works with any SB3 algorithm that takes ``MultiInputPolicy``: DQN
(``policy_kwargs={"features_extractor_class": LSTMTokenExtractor}``), PPO, A2C, MaskablePPO. Meant for small
vocabularies (``TextGenChar-v0``): it learns its own embedding of all ``V`` token ids.

Features ``[B, hidden_size]``: the LSTM's final hidden state after reading the observation's real tokens in order
(prompt then completion; padding skipped via packed sequences). Like the LM policy it re-reads the whole context
every step, which on short char-level contexts is cheap.
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from agents.sb3.policy import check_text_observation_space


class LSTMTokenExtractor(BaseFeaturesExtractor):
    """Embedding ``[V, embed_dim]`` + one-layer LSTM ``hidden_size`` over the attended tokens.

    Args:
        observation_space: the TextGen ``Dict`` observation space (``V`` is read from ``input_ids``' bounds).
        embed_dim: token embedding size.
        hidden_size: LSTM hidden size, which is the features size.
    """

    def __init__(self, observation_space: spaces.Dict, embed_dim: int = 32, hidden_size: int = 128) -> None:
        check_text_observation_space(observation_space)
        super().__init__(observation_space, features_dim=hidden_size)
        vocab_size = int(observation_space["input_ids"].high.max()) + 1
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = observations["input_ids"].long(), observations["attention_mask"].bool()
        # Move each row's attended tokens to the front, in order (a stable sort of "not attended").
        order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
        packed_ids = ids.gather(1, order)
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embedding(packed_ids), lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        return hidden[-1]
