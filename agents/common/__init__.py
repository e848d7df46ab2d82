"""What every algorithm shares: the base algorithm and its config, the LM policy, the rollout collector, the
losses and estimators, KL control, checkpoints, logging, evaluation and the process topology."""
