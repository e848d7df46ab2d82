#!/usr/bin/env bash
# Rebuilds the default "sentiment" reward model (the peft adapter folder reward_models/data/sentiment-minilm/) and
# measures its held-out agreement with VADER, as reported in docs/reward_models.md. About 22 minutes on a 2-core
# CPU shared with other jobs (labelling about 13, training about 9).
#   usage: bash scripts/build_sentiment_reward.sh [work folder, default runs/sentiment-rm]
# OMP_NUM_THREADS=1 avoids thread oversubscription when the machine is shared; drop it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/sentiment-rm}
SHIPPED=reward_models/data/sentiment-minilm
HELD_OUT=tests/data/sentiment_heldout_pairs.jsonl
mkdir -p "$WORK"
rm -rf "$WORK/train.jsonl" "$WORK/rm"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 1. Simulated preferences: 5 SmolLM2 completions (24 tokens, temperature 1) of each of text_gym's 384 train prompts,
#    every pair with different VADER scores kept (up to 10 per prompt): 1,920 completions, about 3,600 pairs.
text-gym reward label --prompts default:train --output "$WORK/train.jsonl" --completions-per-prompt 5 --seed 0 \
    --batch-size 64 --device cpu

# 2. Bradley-Terry training: MiniLM with rank-8 peft LoRA adapters on every Linear layer + a scalar head trained in
#    full (modules_to_save), completion only; the best checkpoint is saved as a peft adapter folder.
text-gym reward train --model minilm --train-file "$WORK/train.jsonl" --eval-fraction 0.1 --output-dir "$WORK/rm" \
    --no-include-prompt --max-length 256 --lora-r 8 --lora-alpha 16 --learning-rate 5e-4 --num-train-epochs 3 \
    --batch-size 32 --eval-steps 60 --device cpu --seed 0

# 3. Ship the adapter folder without the tokenizer (the base's, MiniLM's, is used) and with the adapter weights in
#    float16: adapter_config.json (base "minilm"), adapter_model.safetensors, config.json, reward_model.json.
python - "$WORK/rm" "$SHIPPED" <<'PY'
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

source, target = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(target, ignore_errors=True)
target.mkdir(parents=True)
for name in ("adapter_config.json", "config.json", "reward_model.json"):
    shutil.copy(source / name, target / name)
weights = load_file(source / "adapter_model.safetensors")
save_file({k: v.half() for k, v in weights.items()}, target / "adapter_model.safetensors", metadata={"format": "pt"})
PY
du -sb "$SHIPPED"

# 4. Held-out agreement with VADER (all pairs, and pairs with |delta VADER| >= 0.5) of the trained folder and of the
#    shipped default, on the pairs in tests/data (SmolLM2 completions of the 96 test prompts, whose subjects never
#    appear in training; made by `text-gym reward label --prompts default:test --seed 1 --device cpu`, 4 per prompt).
text-gym reward eval --data "$HELD_OUT" --reward-model "hf:$WORK/rm" --gold vader --min-gold-gap 0.5
text-gym reward eval --data "$HELD_OUT" --reward-model sentiment --gold vader --min-gold-gap 0.5
