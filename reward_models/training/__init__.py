"""Training and evaluating reward models on preference pairs: the Bradley–Terry loss, the trainer's config, the
``transformers.Trainer``-based trainer, evaluation, and packing a trained folder as a small LoRA adapter folder."""
