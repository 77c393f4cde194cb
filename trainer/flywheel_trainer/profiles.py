"""Training profiles: the hyper-parameters and hardware settings that belong together."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    device: str                  # "cpu" or "cuda"
    dtype: str                   # "float32" or "bfloat16"
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    learning_rate: float
    micro_batch: int             # sequences per forward pass on each rank
    global_batch: int            # sequences per optimizer step, whatever the number of ranks
    max_seq_len: int
    epochs: int
    warmup_fraction: float
    checkpoint_every: int        # optimizer steps between checkpoints; 0 = none
    keep_checkpoints: int
    gradient_checkpointing: bool
    lora: bool = True            # False trains every weight (the GPU check's full fine-tune baseline)
    max_steps: int = 0           # 0 = epochs decide
    # Throughput levers (issue 33), each switchable so the GPU check measures it on and off:
    attention: str = "sdpa"      # transformers' attn_implementation: "sdpa", "eager", "flex_attention", "flash_attention_2"
    packing: bool = False        # conversations end to end in one row of up to micro_batch x max_seq_len tokens (packing.py)
    loss_chunk: int = 0          # assistant tokens per cross-entropy chunk (logits upcast a chunk at a time); 0 = all at once
    compile: bool = False        # torch.compile each decoder layer


PROFILES = {
    # The weekly production fine-tune: Qwen3-32B, bf16 LoRA on every linear layer, activations
    # recomputed, sharded with FSDP over the node's GPUs (torchrun). Sizing: 8 x H200 at ~40% MFU do about
    # 3.2 PFLOP/s, ~2.5 after communication; LoRA with recomputation costs ~6 x 32e9 FLOPs per token, so
    # 12 hours is ~0.55e9 tokens = 3 epochs over ~180M tokens of trajectories (~60k conversations of
    # ~3k tokens). The trainer prints its measured tokens/s, so the estimate is checked every run.
    "qwen3-32b-h200": Profile(
        name="qwen3-32b-h200", device="cuda", dtype="bfloat16", lora_rank=64, lora_alpha=128, lora_dropout=0.05,
        learning_rate=1e-4, micro_batch=1, global_batch=16, max_seq_len=16384, epochs=3, warmup_fraction=0.03,
        checkpoint_every=100, keep_checkpoints=3, gradient_checkpointing=True,
    ),
    # Tests and laptops: a tiny random model in float32 on the CPU; a high learning rate so the loss
    # visibly falls within a few dozen steps.
    "tiny-cpu": Profile(
        name="tiny-cpu", device="cpu", dtype="float32", lora_rank=8, lora_alpha=16, lora_dropout=0.0,
        learning_rate=5e-3, micro_batch=2, global_batch=4, max_seq_len=8192, epochs=1, warmup_fraction=0.05,
        checkpoint_every=10, keep_checkpoints=2, gradient_checkpointing=False,
    ),
    # The single-GPU throughput check (scripts/gpu-check.sh): production's bf16 LoRA on a 0.6B model.
    "gpu-check": Profile(
        name="gpu-check", device="cuda", dtype="bfloat16", lora_rank=16, lora_alpha=32, lora_dropout=0.0,
        learning_rate=1e-4, micro_batch=8, global_batch=8, max_seq_len=2048, epochs=1, warmup_fraction=0.0,
        checkpoint_every=0, keep_checkpoints=1, gradient_checkpointing=False,
    ),
}


def with_overrides(profile: Profile, **overrides: object) -> Profile:
    """The profile with the command line's explicit settings (None means: keep the profile's)."""
    return replace(profile, **{k: v for k, v in overrides.items() if v is not None})
