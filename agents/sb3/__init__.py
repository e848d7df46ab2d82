"""Stock stable-baselines3 / sb3-contrib algorithms on TextGen envs.

- ``SB3VecEnv``: a ``TextGenVectorEnv`` as an SB3 ``VecEnv`` (terminal observations, ``infos``), episode
  statistics by SB3's ``VecMonitor``.
- ``LMActorCriticPolicy`` (PPO, A2C) and ``MaskableLMActorCriticPolicy`` (MaskablePPO; needs
  sb3-contrib, the ``sb3`` extra, imported on first use): a causal LM as the policy, value head on the last real
  token.
- ``KLPenaltyCallback``: the per-token KL penalty against a frozen reference, for on-policy algorithms.
- ``LSTMTokenExtractor``: a small LSTM policy body for DQN / PPO on small vocabularies (``TextGenChar-v0``).

See docs/sb3.md.
"""

from agents.sb3.kl_callback import KLPenaltyCallback
from agents.sb3.policy import LMActionHead, LMActorCriticPolicy, LMFeaturesExtractor
from agents.sb3.token_lstm import LSTMTokenExtractor
from agents.sb3.vec_env import SB3VecEnv

__all__ = [
    "KLPenaltyCallback",
    "LMActionHead",
    "LMActorCriticPolicy",
    "LMFeaturesExtractor",
    "LSTMTokenExtractor",
    "MaskableLMActorCriticPolicy",
    "SB3VecEnv",
]


def __getattr__(name: str):
    if name == "MaskableLMActorCriticPolicy":  # sb3-contrib is optional: import it only when asked for
        from agents.sb3.maskable import MaskableLMActorCriticPolicy

        return MaskableLMActorCriticPolicy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
