#!/usr/bin/env bash
# Rebuilds the default "sentiment" reward model (reward_models/data/sentiment-minilm.safetensors) and measures its
# held-out agreement with VADER, as reported in docs/reward_models.md. About 70 minutes on a busy 2-core CPU.
#   usage: bash scripts/build_sentiment_reward.sh [work folder, default runs/sentiment-rm]
# OMP_NUM_THREADS=1 avoids thread oversubscription when the machine is shared; drop it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/sentiment-rm}
mkdir -p "$WORK"
rm -f "$WORK/train.jsonl" "$WORK/test.jsonl"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 1. Simulated preferences: 4 SmolLM2 completions (24 tokens, temperature 1) per prompt, every pair ranked by VADER.
#    Train on text_gym's 384 train prompts; measure on the 96 held-out test prompts (subjects never seen in training).
#    Two passes (seeds 0 and 2) over the train prompts append to one file: 3,072 completions, 4,295 pairs.
text-gym reward label --prompts default:train --output "$WORK/train.jsonl" --seed 0 --batch-size 64 --device cpu
text-gym reward label --prompts default:train --output "$WORK/train.jsonl" --seed 2 --batch-size 64 --device cpu
text-gym reward label --prompts default:test --output "$WORK/test.jsonl" --seed 1 --device cpu

# 2. Bradley-Terry training: MiniLM with rank-8 peft LoRA adapters on every Linear layer + a scalar head trained in
#    full, completion only; the adapters are merged into the saved folder.
text-gym reward train --model minilm --train-file "$WORK/train.jsonl" --eval-fraction 0.1 --output-dir "$WORK/rm" \
    --no-include-prompt --max-length 256 --lora-rank 8 --lora-alpha 16 --learning-rate 5e-4 --num-train-epochs 2 \
    --batch-size 32 --eval-steps 60 --device cpu --seed 0

# 3. Ship only the trained part: rank-8 weight deltas + head + normalisation, float16 (0.69 MB).
text-gym reward pack --model "$WORK/rm" --base minilm --rank 8 --output reward_models/data/sentiment-minilm.safetensors

# 4. Held-out agreement of the shipped default with VADER (all pairs, and pairs with |delta VADER| >= 0.5).
#    $WORK/test.jsonl is the same file as tests/data/sentiment_heldout_pairs.jsonl, where a test pins these numbers.
text-gym reward eval --data "$WORK/test.jsonl" --reward-model sentiment --gold vader --min-gold-gap 0.5
