"""The offline default reward model ``"sentiment"``: a learned sentiment reward on the packaged MiniLM encoder.

all-MiniLM-L6-v2 (``"minilm"``) fine-tuned with rank-8 peft LoRA by Bradley–Terry on preference pairs that SmolLM2
completions of text_gym's train prompts received from the VADER gold labeller; it scores the completion alone,
normalised to mean 0 / std 1 on the training completions. It ships as a peft adapter folder
(``data/sentiment-minilm/``: the LoRA adapters and the trained head in float16, the classifier's ``config.json``
and ``reward_model.json``); ``HFRewardModel`` loads it onto the packaged MiniLM weights and merges it (about a
second, nothing written to disk). ``bash scripts/build_sentiment_reward.sh`` reproduces it; docs/reward_models.md
has the numbers.
"""

from __future__ import annotations

from pathlib import Path

from reward_models.models.hf import ADAPTER_CONFIG_NAME, HFRewardModel

SENTIMENT_ADAPTER = Path(__file__).parents[1] / "data" / "sentiment-minilm"
"""The shipped peft adapter folder of the default sentiment reward model."""


def sentiment_model_path() -> Path:
    """The default sentiment reward model's folder (a peft adapter folder on the packaged ``"minilm"``).

    Raises:
        FileNotFoundError: the folder is missing from the installed package.
    """
    if not (SENTIMENT_ADAPTER / ADAPTER_CONFIG_NAME).is_file():
        raise FileNotFoundError(
            f"the shipped sentiment reward adapter {SENTIMENT_ADAPTER} is missing; rebuild it with "
            "`bash scripts/build_sentiment_reward.sh` (see docs/reward_models.md)"
        )
    return SENTIMENT_ADAPTER


def sentiment_reward_model(device: str = "cpu", max_batch_size: int = 64) -> HFRewardModel:
    """The default learned sentiment reward model (spec ``"sentiment"`` or ``"sentiment:<device>"``)."""
    return HFRewardModel(sentiment_model_path(), device=device, max_batch_size=max_batch_size)
