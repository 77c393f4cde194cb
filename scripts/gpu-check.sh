#!/usr/bin/env bash
# The one-GPU check of the trainer (issue 7): a Qwen3-architecture model of ~0.6B parameters, random
# weights built from config, trained with the trainer's own loop for a fixed number of steps; prints
# tokens/s, peak GPU memory and model FLOPs utilisation for bf16 LoRA and a full fine-tune baseline,
# then trains on real trajectories through the chat template and resumes from a checkpoint.
# Bounded to 8 minutes. Uses the machine's python3 (or FLYWHEEL_TRAINER_PYTHON) with torch,
# transformers and peft installed; downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${FLYWHEEL_TRAINER_PYTHON:-python3}"
export PYTHONPATH="$PWD/trainer${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi: not available"
exec timeout 480 "$PYTHON" -m flywheel_trainer.gpu_check --data trainer/tests/fixtures/trajectories.jsonl "$@"
