"""The offline default reward model ``"sentiment"``: a learned sentiment reward on the packaged MiniLM encoder.

all-MiniLM-L6-v2 (``"minilm"``) fine-tuned with rank-8 peft LoRA by Bradley–Terry on preference pairs that SmolLM2
completions of text_gym's train prompts received from the VADER gold labeller; it scores the completion alone,
normalised to mean 0 / std 1 on the training completions. Only the trained part ships with the package
(``data/sentiment-minilm.safetensors``, 0.69 MB: the rank-8 weight deltas, the head and the normalisation);
on first use it is added to the packaged MiniLM weights and saved as a plain HF folder under
:func:`~reward_models.cache_dir` (about a second), named by the delta's hash so an updated delta never meets a
stale cache. ``bash scripts/build_sentiment_reward.sh`` reproduces the delta; docs/reward_models.md has the numbers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from reward_models.common.atomic_folder import write_folder_atomically
from reward_models.common.packaged import MINILM, cache_dir, load_tokenizer, minilm_path
from reward_models.common.quiet import hf_progress_bars_disabled
from reward_models.models.hf import HFRewardModel
from reward_models.training.delta import delta_settings, load_delta_model

SENTIMENT_DELTA = Path(__file__).parents[1] / "data" / "sentiment-minilm.safetensors"


def sentiment_model_path() -> Path:
    """The default sentiment reward model as a plain HF folder (assembled into the cache on first use)."""
    if not SENTIMENT_DELTA.is_file():
        raise FileNotFoundError(
            f"the shipped sentiment reward delta {SENTIMENT_DELTA} is missing; rebuild it with "
            "`bash scripts/build_sentiment_reward.sh` (see docs/reward_models.md)"
        )
    digest = hashlib.sha256(SENTIMENT_DELTA.read_bytes()).hexdigest()[:12]

    def write(folder: Path) -> None:
        model = load_delta_model(str(minilm_path()), SENTIMENT_DELTA)
        HFRewardModel(model, load_tokenizer(MINILM), **delta_settings(SENTIMENT_DELTA)).save_pretrained(folder)

    with hf_progress_bars_disabled():
        return write_folder_atomically(cache_dir() / f"sentiment-minilm-{digest}", write, replace=False)


def sentiment_reward_model(device: str = "cpu", max_batch_size: int = 64) -> HFRewardModel:
    """The default learned sentiment reward model (spec ``"sentiment"`` or ``"sentiment:<device>"``)."""
    return HFRewardModel(sentiment_model_path(), device=device, max_batch_size=max_batch_size)
