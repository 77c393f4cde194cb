"""Supervised LoRA fine-tuning on chat trajectories, with the progress protocol, checkpoints and resume.

    python -m flywheel_trainer.train --model DIR --data train.jsonl --out OUT --profile tiny-cpu \\
        [--checkpoint-dir DIR] [--resume-from DIR/ckpt-00000040] [--max-steps N] [--checkpoint-every N]

Writes OUT/adapter (LoRA weights, adapter config, and the tokenizer with the chat template used for
training, so a server renders prompts exactly as training did) and OUT/metrics.json. Run it with
torchrun to shard the model with FSDP over the node's GPUs.
"""

import argparse
import hashlib
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import checkpoint
from .dataset import IGNORE, Rendered, read_examples, render
from .packing import collate_packed, pack_examples
from .parent_watch import die_with_parent
from .profiles import PROFILES, Profile, with_overrides
from .protocol import EXIT_TERMINATED, Emitter, TrainerError, bad_config

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Terminated(Exception):
    """SIGTERM arrived (cancel or worker shutdown); a checkpoint has been written when there was progress."""


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def batches_for_step(step: int, order: list[int], per_step: int) -> list[int]:
    """Example indices of optimizer step `step` (1-based), walking the epoch-wise shuffled order."""
    start = (step - 1) * per_step
    return [order[(start + i) % len(order)] for i in range(per_step)]


def epoch_order(count: int, epochs: int, seed: int) -> list[int]:
    import torch

    order: list[int] = []
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(seed + epoch)
        order.extend(torch.randperm(count, generator=generator).tolist())
    return order


def collate(examples: list[Rendered], pad_id: int, device: Any) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


class Distributed:
    """One process, or one rank of a torchrun job (FSDP over the node's GPUs)."""

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def setup(self, device: str) -> Any:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise bad_config("this profile needs a CUDA GPU and none is visible; use --profile tiny-cpu on a machine without one")
        if self.enabled:
            import torch.distributed as dist

            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def sum(self, value: float) -> float:
        if not self.enabled:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], device="cuda" if torch.cuda.is_available() else "cpu", dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def decoder_layers(model: Any) -> list[Any]:
    return list(model.get_decoder().layers) if hasattr(model, "get_decoder") else []


def load_model(model_dir: str, profile: Profile, device: Any, dist: Distributed) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if profile.dtype == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, local_files_only=True, attn_implementation=profile.attention)
    if profile.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if profile.lora:
        from peft import LoraConfig, get_peft_model

        if profile.gradient_checkpointing:
            model.enable_input_require_grads()
        lora = LoraConfig(r=profile.lora_rank, lora_alpha=profile.lora_alpha, lora_dropout=profile.lora_dropout,
                          target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    if profile.compile:
        # Layer by layer: one compiled graph serves every layer (same shapes), and FSDP wraps the same units.
        # Dynamic shapes: conversations (and packed rows) differ in length, which must not recompile each step.
        for layer in decoder_layers(model):
            layer.compile(dynamic=True)
    if dist.enabled:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
        for layer in decoder_layers(model):
            fully_shard(layer, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
    else:
        model.to(device)
    return model


def assistant_loss_sum(model: Any, batch: dict[str, Any], chunk: int = 0) -> Any:
    """Summed cross-entropy of the assistant tokens. Logits are computed only at the positions that
    predict one: with ~10% of a trajectory's tokens written by the assistant and a 152k-token vocabulary,
    the full logits would dominate memory and the output layer's compute. Unpacked, those are the columns
    where any row has a target; packed (one row), exactly the target positions. With `chunk`, the logits
    are upcast to float32 and scored `chunk` tokens at a time, so the float copy never holds them all."""
    import torch

    targets = batch["labels"][:, 1:]
    packed = "position_ids" in batch
    keep = (targets[0] != IGNORE).nonzero().squeeze(-1) if packed else (targets != IGNORE).any(dim=0).nonzero().squeeze(-1)
    inputs = {"position_ids": batch["position_ids"]} if packed else {"attention_mask": batch["attention_mask"]}
    logits = model(input_ids=batch["input_ids"], **inputs, logits_to_keep=keep, use_cache=False).logits
    kept = targets[:, keep]
    logits, kept = logits.reshape(-1, logits.size(-1)), kept.reshape(-1)
    step = chunk if chunk > 0 else max(1, kept.numel())
    total = logits.new_zeros((), dtype=torch.float32)
    for start in range(0, kept.numel(), step):
        total = total + torch.nn.functional.cross_entropy(logits[start:start + step].float(), kept[start:start + step],
                                                          ignore_index=IGNORE, reduction="sum")
    return total


def micro_batches(examples: list[Rendered], profile: Profile, pad_id: int, device: Any) -> list[dict[str, Any]]:
    """A rank's share of a step as micro-batches: padded rows of `micro_batch` examples, or packed rows of
    up to micro_batch x max_seq_len tokens. Each has `tokens`, the real (unpadded) tokens it holds."""
    if profile.packing:
        return [collate_packed(group, device) for group in pack_examples(examples, profile.micro_batch * profile.max_seq_len)]
    batches = []
    for start in range(0, len(examples), profile.micro_batch):
        batch = collate(examples[start:start + profile.micro_batch], pad_id, device)
        batches.append({**batch, "tokens": int(batch["attention_mask"].sum())})
    return batches


def trainable_state(model: Any) -> dict[str, Any]:
    """Full (gathered) trainable weights on the CPU; a collective under FSDP."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True))


def optimizer_state(model: Any, optimizer: Any) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def restore_state(model: Any, optimizer: Any, weights: dict[str, Any], optim: dict[str, Any]) -> None:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, strict=False)
    result = set_model_state_dict(model, weights, options=options)
    if result.unexpected_keys:
        raise bad_config(f"the checkpoint holds weights this model does not have: {result.unexpected_keys[:3]}")
    set_optimizer_state_dict(model, optimizer, optim, options=options)


def save_output(out: str, model: Any, tokenizer: Any, profile: Profile, metrics: dict[str, Any]) -> str:
    """OUT/adapter (or OUT/model for a full fine-tune) with the tokenizer and chat template, and OUT/metrics.json."""
    target = Path(out) / ("adapter" if profile.lora else "model")
    target.mkdir(parents=True, exist_ok=True)
    weights = trainable_state(model)
    if profile.lora:
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        adapter = get_peft_model_state_dict(model, state_dict=weights)
        save_file({k: v.contiguous() for k, v in adapter.items()}, str(target / "adapter_model.safetensors"))
        model.peft_config["default"].save_pretrained(str(target))
    else:
        model.save_pretrained(str(target), state_dict=weights)
    tokenizer.save_pretrained(str(target))
    (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return str(target)


def render_all(tokenizer: Any, data: str, max_seq_len: int) -> tuple[list[Rendered], int]:
    """Every example rendered; those longer than max_seq_len are counted and left out, never cut."""
    rendered: list[Rendered] = []
    too_long = 0
    for example in read_examples(data):
        item = render(tokenizer, example)
        if item.assistant_tokens == 0:
            raise TrainerError("bad_data", f"{data}:{example.line}: the chat template marked no assistant tokens", retryable=False, file=data, line=example.line)
        if len(item.input_ids) > max_seq_len:
            too_long += 1
        else:
            rendered.append(item)
    if not rendered:
        raise bad_config(f"every example of {data} is longer than max_seq_len={max_seq_len}; raise --max-seq-len")
    return rendered, too_long


def train(*, model_dir: str, data: str, out: str, profile: Profile, checkpoint_dir: str, resume_from: str | None,
          seed: int, emit: Emitter, dist: Distributed, examples: list[Rendered] | None = None,
          after_step: Any = None) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    if not (Path(model_dir) / "config.json").is_file():
        raise bad_config(f"--model {model_dir}: no config.json there; pass a local model folder (models are never downloaded)")
    device = dist.setup(profile.device)
    emit.enabled = dist.main
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if examples is None:
        examples, too_long = render_all(tokenizer, data, profile.max_seq_len)
        data_digest = file_digest(data)
    else:
        too_long, data_digest = 0, "in-memory"
    # The global batch is fixed by the profile, so the number of GPUs changes speed, not results: each
    # rank takes every world_size-th sequence of a step and accumulates over its share.
    per_step = profile.global_batch
    if per_step % (profile.micro_batch * dist.world_size) != 0:
        raise bad_config(f"global_batch={per_step} is not a multiple of micro_batch={profile.micro_batch} x {dist.world_size} ranks; "
                         "change the GPU count or the profile's batch sizes")
    total_steps = profile.max_steps or max(1, math.ceil(len(examples) * profile.epochs / per_step))
    epochs_needed = math.ceil(total_steps * per_step / len(examples))
    order = epoch_order(len(examples), epochs_needed, seed)

    torch.manual_seed(seed)
    model = load_model(model_dir, profile, device, dist)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=profile.learning_rate, weight_decay=0.0)
    warmup = max(1, int(total_steps * profile.warmup_fraction)) if profile.warmup_fraction > 0 else 0

    def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 10%
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    identity = {"data_digest": data_digest, "profile": profile.name, "total_steps": total_steps, "seed": seed,
                "world_size": dist.world_size}
    start_step, losses = 1, []
    if resume_from:
        state, weights, rest = checkpoint.load(resume_from, identity)
        restore_state(model, optimizer, weights, rest["optimizer"])
        scheduler.load_state_dict(rest["scheduler"])
        checkpoint.restore_rng(rest["rng"])
        start_step, losses = state["step"] + 1, state["losses"]
    # What the run holds while it lives, for the step's GPU-seconds: the device's own name ("NVIDIA H200")
    # and how many of them (one per rank); a CPU run holds none.
    on_gpu = device.type == "cuda"
    emit.emit("start", profile=profile.name, world_size=dist.world_size, total_steps=total_steps, start_step=start_step,
              examples=len(examples), skipped_too_long=too_long, resumed_from=resume_from,
              trainable_parameters=sum(p.numel() for p in parameters),
              device=device.type, device_name=torch.cuda.get_device_name(device) if on_gpu else "cpu",
              gpus=dist.world_size if on_gpu else 0)

    terminate = {"requested": False}
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: terminate.__setitem__("requested", True))

    def write_checkpoint(step: int) -> None:
        weights, optim = trainable_state(model), optimizer_state(model, optimizer)
        if dist.main:
            path = checkpoint.save(checkpoint_dir, step, weights, optim, scheduler.state_dict(), {**identity, "losses": losses})
            checkpoint.prune(checkpoint_dir, profile.keep_checkpoints)
            emit.emit("checkpoint", step=step, path=path)
        dist.barrier()

    # bf16 profiles keep the LoRA weights in float32 (precise updates) and compute in bfloat16.
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=profile.dtype == "bfloat16")
    model.train()
    started, tokens_total, last_saved = time.monotonic(), 0, start_step - 1
    try:
        for step in range(start_step, total_steps + 1):
            step_started = time.monotonic()
            indices = batches_for_step(step, order, per_step)
            mine = indices[dist.rank::dist.world_size]
            step_examples = [examples[i] for i in mine]
            targets = dist.sum(float(sum(e.assistant_tokens for e in step_examples)))
            loss_sum, step_tokens = 0.0, 0
            for batch in micro_batches(step_examples, profile, tokenizer.pad_token_id, device):
                with autocast:
                    # Sum over assistant tokens divided by the step's total: every token weighs the same
                    # whatever batch it fell in, and the result is independent of micro-batching and packing.
                    loss = assistant_loss_sum(model, batch, profile.loss_chunk) / targets
                loss.backward()
                loss_sum += float(loss.detach())
                step_tokens += batch["tokens"]
                if terminate["requested"]:
                    break
            if terminate["requested"]:
                optimizer.zero_grad(set_to_none=True)
                if step - 1 > last_saved:
                    write_checkpoint(step - 1)
                raise Terminated()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step_loss = dist.sum(loss_sum)
            step_tokens_all = int(dist.sum(float(step_tokens)))
            tokens_total += step_tokens_all
            losses.append(round(step_loss, 6))
            elapsed = time.monotonic() - step_started
            emit.emit("step", step=step, total_steps=total_steps, loss=round(step_loss, 6), lr=scheduler.get_last_lr()[0],
                      tokens=step_tokens_all, tokens_per_s=round(step_tokens_all / max(elapsed, 1e-9), 1),
                      elapsed_s=round(time.monotonic() - started, 3))
            if profile.checkpoint_every and step % profile.checkpoint_every == 0 and step < total_steps:
                write_checkpoint(step)
                last_saved = step
            if after_step is not None:  # the GPU check's profiler steps here
                after_step(step)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)

    wall = time.monotonic() - started
    window = max(1, min(5, len(losses) // 2))
    metrics = {
        "profile": profile.name, "base_model": model_dir, "data_digest": data_digest, "steps": total_steps,
        "resumed_at_step": start_step if resume_from else None, "examples": len(examples), "skipped_too_long": too_long,
        "initial_loss": sum(losses[:window]) / window, "final_loss": sum(losses[-window:]) / window,
        "losses": losses, "tokens_this_attempt": tokens_total, "tokens_per_s": round(tokens_total / max(wall, 1e-9), 1),
        "wall_s_this_attempt": round(wall, 3), "world_size": dist.world_size, "settings": asdict(profile),
    }
    if out:
        path = save_output(out, model, tokenizer, profile, metrics)
        emit.emit("done", output=path, metrics={k: v for k, v in metrics.items() if k not in ("losses", "settings")})
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="local folder of the base model and its tokenizer")
    parser.add_argument("--data", required=True, help="OpenAI chat fine-tuning JSONL (messages + tools)")
    parser.add_argument("--out", required=True, help="folder for the adapter and metrics.json")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="tiny-cpu")
    parser.add_argument("--checkpoint-dir", help="where checkpoints go (default OUT/checkpoints)")
    parser.add_argument("--resume-from", help="a ckpt-* folder of an earlier attempt of the same run")
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--max-seq-len", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--attention", choices=["sdpa", "eager", "flex_attention", "flash_attention_2"], help="attention kernel")
    parser.add_argument("--packing", action=argparse.BooleanOptionalAction, default=None, help="pack conversations into rows")
    parser.add_argument("--loss-chunk", type=int, help="assistant tokens per cross-entropy chunk (0: all at once)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile each decoder layer")
    args = parser.parse_args(argv)
    die_with_parent()
    emit = Emitter()
    try:
        profile = with_overrides(PROFILES[args.profile], max_steps=args.max_steps, checkpoint_every=args.checkpoint_every,
                                 epochs=args.epochs, learning_rate=args.learning_rate, max_seq_len=args.max_seq_len,
                                 attention=args.attention, packing=args.packing, loss_chunk=args.loss_chunk, compile=args.compile)
        train(model_dir=args.model, data=args.data, out=args.out, profile=profile, seed=args.seed, emit=emit,
              checkpoint_dir=args.checkpoint_dir or str(Path(args.out) / "checkpoints"), resume_from=args.resume_from,
              dist=Distributed())
        return 0
    except Terminated:
        emit.emit("error", kind="terminated", retryable=True, message="stopped by SIGTERM")
        return EXIT_TERMINATED
    except TrainerError as error:
        emit.error(error)
        return error.exit_code
    except Exception as error:  # classified here so the activity knows whether a retry can help
        import torch

        if isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower():
            emit.error(TrainerError("oom", f"out of memory: {error}", retryable=True))
            return 75
        emit.emit("error", kind="crash", retryable=True, message=f"{type(error).__name__}: {error}")
        raise


if __name__ == "__main__":
    sys.exit(main())
