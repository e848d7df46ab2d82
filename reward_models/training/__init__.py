"""Training and evaluating reward models on preference pairs: the Bradley–Terry loss, the trainer's config, the
``transformers.Trainer``-based trainer, and evaluation."""
