"""Flywheel's fine-tuning trainer: supervised LoRA fine-tuning of Qwen3-architecture models on the
tool-calling trajectories that the flow-agent pipeline's synthesize step writes."""
