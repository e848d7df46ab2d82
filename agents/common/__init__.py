"""What every algorithm shares, one concern per module:

- ``base.py``: ``BaseAlgorithm`` (construction, env, ``predict``, ``save`` / ``load``, checkpoints and resume);
  ``on_policy.py``: ``OnPolicyAlgorithm``, the learn loop (rollout, reward shaping, ``train``, logging).
- ``model_setup.py``: the construction steps (config merge, LoRA config, policy, KL reference, optimizer, KL
  controller, gold-model checks); ``config.py``: ``AlgorithmConfig``, the shared settings.
- ``rollout.py``: the rollout collector and ``RolloutBuffer``; ``policy.py``: ``LMPolicy`` and the KL references;
  ``static_decode.py``: the static / compiled rollout KV cache; ``prefix_sharing.py``: rows with the same prompt
  run it once (rollout prefill, training and reference forwards).
- ``reward_shaping.py``: KL penalty, missing-EOS penalty, score normalisation (pure functions);
  ``advantages.py``: GAE, group advantages, whitening; ``losses.py``: the policy and value losses; ``kl.py``: KL
  estimators and controllers.
- ``updater.py``: ``MinibatchUpdater`` (minibatches, gradient accumulation, non-finite skip, metrics);
  ``schedules.py``: the LR schedule; ``optimizer_in_backward.py``: the optimizer step inside backward.
- ``merged_adapters.py``: a LoRA policy's adapters merged into its base weights for rollouts and evaluation.
- ``checkpoint.py``: atomic checkpoint folders (accelerate's ``save_state``); ``generators.py``: the per-process
  random generators.
- ``logger.py``: SB3 logger, episode buffer, samples table, gold score; ``callbacks.py``: SB3 callbacks;
  ``evaluate.py``: held-out evaluation; ``envs.py``: the vector env an agent acts in; ``distributed.py``: the
  process topology and precision (accelerate) and cross-process reductions.
"""
