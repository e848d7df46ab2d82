"""Human feedback: a local labelling web app whose picks, rankings and edits become preference data.
See docs/labelling.md."""

from reward_models.human.app import LabelServerConfig, create_app, make_server, resolve_candidates, resolve_token
from reward_models.human.items import (
    MODES,
    Candidates,
    Item,
    build_items,
    item_key,
    load_candidates,
    sample_candidates,
    save_candidates,
)
from reward_models.human.stats import LabelStatsConfig, annotator_agreement, label_stats, reward_model_agreement
from reward_models.human.store import LabelConflict, LabelStore

__all__ = [
    "MODES",
    "Candidates",
    "Item",
    "LabelConflict",
    "LabelServerConfig",
    "LabelStatsConfig",
    "LabelStore",
    "annotator_agreement",
    "build_items",
    "create_app",
    "item_key",
    "label_stats",
    "load_candidates",
    "make_server",
    "resolve_candidates",
    "resolve_token",
    "reward_model_agreement",
    "sample_candidates",
    "save_candidates",
]
