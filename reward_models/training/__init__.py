"""Training and evaluating reward models on preference pairs: the Bradley–Terry loss, the trainer, evaluation
and the small-delta format of the packaged reward model."""
