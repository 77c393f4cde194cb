"""The single-GPU check: trains a Qwen3-architecture model of ~0.6B parameters (Qwen3-0.6B's shapes,
random weights built from config) with the trainer's own loop and prints tokens/s, peak GPU memory
and model FLOPs utilisation, for bf16 LoRA (the production method) and a full fine-tune baseline;
then trains on real trajectories through the chat template, checkpoints, and resumes.

    python -m flywheel_trainer.gpu_check --data trainer/tests/fixtures/trajectories.jsonl

Model FLOPs per token (PaLM's convention, causal attention counted in full): full fine-tune
6N + 12·L·d_attn·S; LoRA 4N + 6N_lora + 12·L·d_attn·S (frozen weights need no weight gradients).
"""

import argparse
import io
import json
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

from .dataset import IGNORE, Rendered
from .profiles import PROFILES
from .protocol import Emitter
from .tiny_model import build_model, build_tokenizer, corpus_texts
from .train import Distributed, train

DENSE_BF16_PEAK = {"H100": 989e12, "H200": 989e12}  # SXM datasheet, dense (no sparsity)


class Recorder(io.StringIO):
    """Collects protocol events while echoing them, so figures come from what the trainer reported."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.events.append(json.loads(line))
        return len(text)


def synthetic(count: int, length: int, vocab: int, seed: int) -> list[Rendered]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, vocab, (count, length), generator=generator).tolist()
    return [Rendered(input_ids=row, labels=[IGNORE] + row[1:], line=i + 1) for i, row in enumerate(rows)]


def steady(events: list[dict[str, Any]], warmup: int) -> tuple[float, float]:
    """Tokens/s and seconds/step over the steps after `warmup`, from the cumulative elapsed times."""
    steps = [e for e in events if e["event"] == "step"]
    timed = steps[warmup:]
    seconds = timed[-1]["elapsed_s"] - steps[warmup - 1]["elapsed_s"]
    return sum(e["tokens"] for e in timed) / seconds, seconds / len(timed)


def flops_per_token(model_config: Any, parameters: int, lora_parameters: int, seq: int, lora: bool) -> float:
    d_attn = model_config.num_attention_heads * model_config.head_dim
    attention = 12 * model_config.num_hidden_layers * d_attn * seq
    return (4 * parameters + 6 * lora_parameters if lora else 6 * parameters) + attention


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="trajectories for the real-data part")
    parser.add_argument("--preset", default="qwen3-0.6b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--micro-batch", type=int, default=8)
    args = parser.parse_args(argv)
    import peft
    import transformers

    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(json.dumps({"event": "environment", "gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__,
                      "peft": peft.__version__, "python": sys.version.split()[0]}), flush=True)
    peak = next((v for k, v in DENSE_BF16_PEAK.items() if k in gpu), None)
    workdir = tempfile.mkdtemp(prefix="flywheel-gpu-check-")
    model_dir = f"{workdir}/model"
    tokenizer = build_tokenizer(corpus_texts([args.data]), 1024)
    model = build_model(args.preset, len(tokenizer), seed=0)
    parameters = sum(p.numel() for p in model.parameters())
    model_config = model.config
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    del model
    print(json.dumps({"event": "model", "preset": args.preset, "parameters": parameters, "vocab_size": model_config.vocab_size}), flush=True)

    base = PROFILES["gpu-check"]
    if args.device == "cpu":
        base = replace(base, device="cpu", dtype="float32")

    def measure(label: str, lora: bool) -> dict[str, Any]:
        profile = replace(base, lora=lora, max_steps=args.steps, micro_batch=args.micro_batch, global_batch=args.micro_batch, max_seq_len=args.seq,
                          learning_rate=1e-4 if lora else 1e-5)
        recorder = Recorder()
        if args.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        started = time.monotonic()
        train(model_dir=model_dir, data="", out="", profile=profile, checkpoint_dir=f"{workdir}/ckpt", resume_from=None,
              seed=0, emit=Emitter(stream=recorder), dist=Distributed(),
              examples=synthetic(args.steps * args.micro_batch, args.seq, model_config.vocab_size, seed=1))
        tokens_per_s, step_s = steady(recorder.events, args.warmup)
        trainable = next(e for e in recorder.events if e["event"] == "start")["trainable_parameters"]
        achieved = tokens_per_s * flops_per_token(model_config, parameters, trainable if lora else 0, args.seq, lora)
        steps = [e for e in recorder.events if e["event"] == "step"]
        return {
            "event": "throughput", "run": label, "steps_timed": args.steps - args.warmup, "tokens_per_step": args.micro_batch * args.seq,
            "tokens_per_s": round(tokens_per_s), "seconds_per_step": round(step_s, 4), "trainable_parameters": trainable,
            "model_tflops_per_s": round(achieved / 1e12, 1), "mfu": round(achieved / peak, 4) if peak else None,
            "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if args.device == "cuda" else None,
            "first_loss": steps[0]["loss"], "last_loss": steps[-1]["loss"], "wall_s": round(time.monotonic() - started, 1),
        }

    def resume_check() -> dict[str, Any]:
        """Real trajectories through the chat template: 20 steps with a checkpoint at 10, then a resume from it."""
        real = replace(base, max_steps=20, checkpoint_every=10, keep_checkpoints=2, micro_batch=4, global_batch=4, max_seq_len=4096)
        first, resumed = Recorder(), Recorder()
        train(model_dir=model_dir, data=args.data, out=f"{workdir}/out", profile=real, checkpoint_dir=f"{workdir}/real-ckpt",
              resume_from=None, seed=0, emit=Emitter(stream=first), dist=Distributed())
        train(model_dir=model_dir, data=args.data, out=f"{workdir}/out-resumed", profile=real, checkpoint_dir=f"{workdir}/real-ckpt-2",
              resume_from=f"{workdir}/real-ckpt/ckpt-00000010", seed=0, emit=Emitter(stream=resumed), dist=Distributed())
        losses = [e["loss"] for e in first.events if e["event"] == "step"]
        again = [e["loss"] for e in resumed.events if e["event"] == "step"]
        return {"event": "real-data", "steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1],
                "resumed_first_step": resumed.events[0]["start_step"],
                "max_loss_difference_after_resume": max(abs(a - b) for a, b in zip(losses[10:], again))}

    results = [guarded(lambda: measure("bf16 LoRA r=16 (production method)", True)),
               guarded(lambda: measure("bf16 full fine-tune (baseline)", False)),
               guarded(resume_check)]
    if all(r is not None for r in results[:2]):
        ratio = results[0]["tokens_per_s"] / results[1]["tokens_per_s"]
        print(json.dumps({"event": "summary", "lora_over_full_tokens_per_s": round(ratio, 2)}), flush=True)
    return 0 if all(r is not None for r in results) else 1


def guarded(part: Any) -> dict[str, Any] | None:
    """Runs one part of the check and prints its figures; a failing part is reported and the others still run."""
    import traceback

    try:
        result = part()
        print(json.dumps(result), flush=True)
        return result
    except Exception:
        print(json.dumps({"event": "part-failed", "traceback": traceback.format_exc()}), flush=True)
        return None


if __name__ == "__main__":
    sys.exit(main())
