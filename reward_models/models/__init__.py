"""The reward models: learned (``HFRewardModel``, the packaged ``sentiment``), gold labellers (VADER,
distinct-n), function rewards, reference-based and constraint rewards, harmlessness rewards (``safety.py``), and their
weighted sums."""
