"""SB3 policies that wrap a causal language model, for stock ``PPO`` / ``A2C`` and sb3-contrib's ``MaskablePPO``.

The LM fills SB3's ``ActorCriticPolicy`` slots without changing how SB3 calls them:

- ``features_extractor`` (``LMFeaturesExtractor``): the LM backbone, read at the last real token of the
  observation: features ``[B, H]``. Shared by actor and critic.
- ``mlp_extractor``: the identity (``net_arch=[]``).
- ``action_net`` (``LMActionHead``): the LM head, logits ``[B, V]`` over the env's ``Discrete(V)``.
- ``value_net``: a new ``Linear(H, 1)``, zero-initialised so the first values are 0.

No orthogonal re-initialisation (``ortho_init`` must stay False): the pretrained weights are kept. Dropout
probabilities are set to 0, as in ``agents.LMPolicy``, so rollout and training log-probs agree.

Cost: SB3 has no KV cache, so every env step runs the LM over the whole context (prompt + completion so far),
and every PPO/A2C gradient step does so again for each sampled observation. See docs/sb3.md for measured speeds.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.common.policy import LMPolicy, lm_head_size
from reward_models.common.lm import last_token_hidden

OBS_KEYS = ("input_ids", "attention_mask")
CHAT_OBS_KEYS = (*OBS_KEYS, "agent_mask")


def check_text_observation_space(observation_space: spaces.Space) -> None:
    """Raise if ``observation_space`` is not a TextGen observation space (``Dict`` with ``input_ids`` and
    ``attention_mask``, plus ``agent_mask`` for the chat envs, which the policies do not read)."""
    keys = set(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else None
    if keys not in (set(OBS_KEYS), set(CHAT_OBS_KEYS)):
        raise ValueError(
            f"observation_space must be a TextGen Dict space with keys {OBS_KEYS} (chat envs: {CHAT_OBS_KEYS}), "
            f"got {observation_space}"
        )


class LMFeaturesExtractor(BaseFeaturesExtractor):
    """A causal LM's backbone as an SB3 features extractor: the final hidden state ``[B, H]`` at each
    observation's last attended token.

    Args:
        observation_space: the TextGen ``Dict`` observation space.
        model: a transformers causal LM, a hub id, a local folder or ``"smollm2"`` (the packaged SmolLM2-135M).
    """

    def __init__(self, observation_space: spaces.Dict, model: str | os.PathLike | nn.Module = "smollm2") -> None:
        check_text_observation_space(observation_space)
        lm = LMPolicy.from_pretrained(model).model  # loads, and sets dropout to 0
        super().__init__(observation_space, features_dim=int(lm.config.hidden_size))
        self.model = lm

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return last_token_hidden(self.model.base_model, observations["input_ids"], observations["attention_mask"])


class LMActionHead(nn.Module):
    """The LM head restricted to the env's first ``num_actions`` token ids: logits ``[B, num_actions]``."""

    def __init__(self, head: nn.Module, num_actions: int) -> None:
        super().__init__()
        self.head = head
        self.num_actions = int(num_actions)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden)[..., : self.num_actions]


class _LMPolicyMixin:
    """Builds an SB3 actor-critic policy around ``LMFeaturesExtractor`` (see the module docstring)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Any,
        model: str | os.PathLike | nn.Module = "smollm2",
        **kwargs: Any,
    ) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"action_space must be Discrete (token ids), got {action_space}")
        fixed = {
            "ortho_init": False,
            "net_arch": [],
            "share_features_extractor": True,
            "features_extractor_class": LMFeaturesExtractor,
        }
        for name, value in fixed.items():
            if name in kwargs and kwargs[name] != value:
                raise ValueError(
                    f"{type(self).__name__} requires {name}={value!r} (pretrained LM backbone and head, "
                    f"shared by actor and critic), got {kwargs[name]!r}"
                )
        if kwargs.get("features_extractor_kwargs"):
            raise ValueError(f"{type(self).__name__} takes the LM as model=..., not features_extractor_kwargs")
        kwargs.update(fixed)
        kwargs["features_extractor_kwargs"] = {"model": model}
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        params = super()._get_constructor_parameters()
        for name in ("ortho_init", "net_arch", "share_features_extractor", "features_extractor_class"):
            params.pop(name, None)
        params["model"] = params.pop("features_extractor_kwargs")["model"]
        return params

    def _build(self, lr_schedule: Any) -> None:
        self._build_mlp_extractor()
        lm = self.features_extractor.model
        if self.action_space.n > lm_head_size(lm):
            raise ValueError(
                f"the env has {self.action_space.n} actions but the LM head has {lm_head_size(lm)} "
                f"rows; build the env with vocab_size={lm_head_size(lm)} or fewer"
            )
        self.action_net = LMActionHead(lm.get_output_embeddings(), self.action_space.n)
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        nn.init.zeros_(self.value_net.weight)
        nn.init.zeros_(self.value_net.bias)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    @property
    def lm(self) -> nn.Module:
        """The wrapped transformers causal LM (trained in place; ``save_pretrained`` it to export)."""
        return self.features_extractor.model

    def lm_policy(self) -> LMPolicy:
        """The same LM (shared modules, no copy) as an ``agents.LMPolicy`` over the env's ``action_space.n``
        actions, without the value head: this policy's action distribution, which ``agents.collect_rollout`` /
        ``agents.evaluate_lm`` sample with a KV cache (under the env's action masks, as MaskablePPO does)."""
        return LMPolicy(self.lm, num_actions=self.action_space.n)


class LMActorCriticPolicy(_LMPolicyMixin, ActorCriticPolicy):
    """Causal-LM policy for SB3's ``PPO`` and ``A2C``: ``PPO(LMActorCriticPolicy, env, policy_kwargs={"model":
    ...})``. ``model`` is a transformers causal LM, a hub id, a local folder or ``"smollm2"`` (default)."""
