#!/usr/bin/env bash
# The one-GPU check of the trainer (issues 7 and 33): Qwen3-architecture models with random weights built
# from config (Qwen3-0.6B's shapes, and Qwen3-32B's layer shapes with 4 of its layers), trained with the
# trainer's own loop; prints tokens/s, peak GPU memory and model FLOPs utilisation for today's LoRA
# trainer, the improved one (packing, chunked loss, compiled layers) and the full fine-tune baseline, then
# trains on real trajectories through the chat template and resumes from a checkpoint.
# Options: --levers (each lever alone, 0.6B), --torch-profile (top GPU ops of the improved trainer at the
# 32B shapes), --presets, --attention flex_attention (see python -m flywheel_trainer.gpu_check --help).
# Bounded to 8 minutes. Uses the machine's python3 (or FLYWHEEL_TRAINER_PYTHON) with torch,
# transformers and peft installed; downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${FLYWHEEL_TRAINER_PYTHON:-python3}"
export PYTHONPATH="$PWD/trainer${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi: not available"
exec timeout 480 "$PYTHON" -m flywheel_trainer.gpu_check --data trainer/tests/fixtures/trajectories.jsonl "$@"
