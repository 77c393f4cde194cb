"""The single-GPU check: trains Qwen3-architecture models with random weights built from config, with the
trainer's own loop, and prints tokens/s, peak GPU memory and model FLOPs utilisation side by side for
  - today's trainer: bf16 LoRA, padded rows, logits upcast at once, no compilation;
  - the improved trainer: the same LoRA with packing, the chunked loss and compiled layers (issue 33);
  - the bf16 full fine-tune baseline (today's loop, every weight trained);
at two sizes: Qwen3-0.6B's shapes, and Qwen3-32B's layer shapes with 4 of its 64 layers (the per-layer work
of the weekly run). With --levers, each lever alone on today's LoRA trainer (0.6B). With --torch-profile,
where the improved trainer's time goes at the 32B shapes (top kernels by GPU time). Then it trains on real
trajectories through the chat template, checkpoints and resumes.

    python -m flywheel_trainer.gpu_check --data trainer/tests/fixtures/trajectories.jsonl [--levers] [--torch-profile]

The synthetic conversations are like trajectories: lengths spread between a quarter of --seq and --seq,
about 10% of their tokens the assistant's. tokens/s counts their real tokens (padding is not work).
Model FLOPs per token (PaLM's convention, causal attention counted in full over each token's own
conversation): full fine-tune 6N + 12·L·d_attn·S; LoRA 4N + 6N_lora + 12·L·d_attn·S (frozen weights need no
weight gradients), S the token-weighted mean conversation length (Σ len² / Σ len).
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


def synthetic(count: int, max_length: int, vocab: int, seed: int) -> list[Rendered]:
    """Conversations shaped like trajectories: lengths between max_length/4 and max_length, and the
    assistant's turns (the targets) about 10% of the tokens, in a few spans."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(max_length // 4, max_length + 1, (count,), generator=generator).tolist()
    conversations = []
    for i, length in enumerate(lengths):
        ids = torch.randint(0, vocab, (length,), generator=generator).tolist()
        labels = [IGNORE] * length
        span = max(1, length // 40)
        for start in torch.randint(1, max(2, length - span), (4,), generator=generator).tolist():
            labels[start:start + span] = ids[start:start + span]
        conversations.append(Rendered(input_ids=ids, labels=labels, line=i + 1))
    return conversations


def attention_length(examples: list[Rendered]) -> float:
    """The context a token attends over, averaged over tokens: Σ len² / Σ len."""
    lengths = [len(e.input_ids) for e in examples]
    return sum(n * n for n in lengths) / sum(lengths)


def steady(events: list[dict[str, Any]], warmup: int) -> tuple[float, float]:
    """Tokens/s and seconds/step over the steps after `warmup`, from the cumulative elapsed times."""
    steps = [e for e in events if e["event"] == "step"]
    timed = steps[warmup:]
    seconds = timed[-1]["elapsed_s"] - steps[warmup - 1]["elapsed_s"]
    return sum(e["tokens"] for e in timed) / seconds, seconds / len(timed)


def flops_per_token(model_config: Any, parameters: int, lora_parameters: int, seq: float, lora: bool) -> float:
    d_attn = model_config.num_attention_heads * model_config.head_dim
    attention = 12 * model_config.num_hidden_layers * d_attn * seq
    return (4 * parameters + 6 * lora_parameters if lora else 6 * parameters) + attention


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="trajectories for the real-data part")
    parser.add_argument("--presets", default="qwen3-0.6b,qwen3-32b-layers", help="model shapes to measure, comma-separated")
    parser.add_argument("--layers", type=int, help="decoder layers of the 32B-shape model (default: the preset's 4)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seq", type=int, default=4096, help="longest synthetic conversation (a quarter of it the shortest)")
    parser.add_argument("--micro-batch", type=int, default=4, help="conversations per padded micro-batch; packed rows hold as many tokens")
    parser.add_argument("--attention", default="sdpa", help="the improved trainer's attention kernel")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="leave torch.compile out of the improved trainer")
    parser.add_argument("--levers", action="store_true", help="also measure each lever alone on today's LoRA trainer (first preset)")
    parser.add_argument("--torch-profile", action="store_true", help="profile two steps of the improved trainer (last preset)")
    parser.add_argument("--skip-real-data", action="store_true")
    args = parser.parse_args(argv)
    import peft
    import transformers

    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(json.dumps({"event": "environment", "gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__,
                      "peft": peft.__version__, "python": sys.version.split()[0]}), flush=True)
    peak = next((v for k, v in DENSE_BF16_PEAK.items() if k in gpu), None)
    workdir = tempfile.mkdtemp(prefix="flywheel-gpu-check-")
    tokenizer = build_tokenizer(corpus_texts([args.data]), 1024)
    base = PROFILES["gpu-check"]
    if args.device == "cpu":
        base = replace(base, device="cpu", dtype="float32")
    today = dict(attention="sdpa", packing=False, loss_chunk=0, compile=False)
    improved = dict(attention=args.attention, packing=True, loss_chunk=8192, compile=args.compile)
    presets = [p for p in args.presets.split(",") if p]

    def build(preset: str) -> tuple[str, Any, int]:
        model_dir = f"{workdir}/{preset}"
        model = build_model(preset, len(tokenizer), seed=0, layers=args.layers if preset == "qwen3-32b-layers" else None)
        parameters = sum(p.numel() for p in model.parameters())
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        config = model.config
        del model
        print(json.dumps({"event": "model", "preset": preset, "parameters": parameters, "layers": config.num_hidden_layers,
                          "hidden_size": config.hidden_size, "vocab_size": config.vocab_size}), flush=True)
        return model_dir, config, parameters

    def measure(preset: str, model_dir: str, model_config: Any, parameters: int, label: str, lora: bool, settings: dict[str, Any],
                torch_profile: bool = False) -> dict[str, Any]:
        profile = replace(base, lora=lora, max_steps=args.steps, micro_batch=args.micro_batch, global_batch=args.micro_batch * 4,
                          max_seq_len=args.seq, learning_rate=1e-4 if lora else 1e-5, **settings)
        examples = synthetic(args.steps * profile.global_batch, args.seq, model_config.vocab_size, seed=1)
        recorder = Recorder()
        if args.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        started = time.monotonic()
        profiler, after_step = None, None
        if torch_profile:
            from torch.profiler import ProfilerActivity, profile as torch_profiler, schedule

            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
            profiler = torch_profiler(activities=activities, schedule=schedule(wait=args.warmup, warmup=1, active=2))
            profiler.start()
            after_step = lambda _step: profiler.step()  # noqa: E731
        try:
            train(model_dir=model_dir, data="", out="", profile=profile, checkpoint_dir=f"{workdir}/ckpt", resume_from=None,
                  seed=0, emit=Emitter(stream=recorder), dist=Distributed(), examples=examples, after_step=after_step)
        finally:
            if profiler is not None:
                profiler.stop()
        tokens_per_s, step_s = steady(recorder.events, args.warmup)
        trainable = next(e for e in recorder.events if e["event"] == "start")["trainable_parameters"]
        achieved = tokens_per_s * flops_per_token(model_config, parameters, trainable if lora else 0, attention_length(examples), lora)
        steps = [e for e in recorder.events if e["event"] == "step"]
        result = {
            "event": "throughput", "preset": preset, "run": label, "settings": settings, "steps_timed": args.steps - args.warmup,
            "tokens_per_step": round(sum(e["tokens"] for e in steps) / len(steps)),
            "tokens_per_s": round(tokens_per_s), "seconds_per_step": round(step_s, 4), "trainable_parameters": trainable,
            "model_tflops_per_s": round(achieved / 1e12, 1), "mfu": round(achieved / peak, 4) if peak else None,
            "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if args.device == "cuda" else None,
            "first_loss": steps[0]["loss"], "last_loss": steps[-1]["loss"], "wall_s": round(time.monotonic() - started, 1),
        }
        if profiler is not None:
            result["profile"] = top_kernels(profiler, args.device)
        return result

    def resume_check() -> dict[str, Any]:
        """Real trajectories through the chat template: 20 steps with a checkpoint at 10, then a resume from it (packed)."""
        model_dir = f"{workdir}/{presets[0]}"
        real = replace(base, max_steps=20, checkpoint_every=10, keep_checkpoints=2, micro_batch=4, global_batch=4, max_seq_len=4096, **improved)
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

    results: list[dict[str, Any] | None] = []
    for index, preset in enumerate(presets):
        built = guarded(lambda: {"event": "built", **dict(zip(("model_dir", "config", "parameters"), build(preset)))}, echo=False)
        if built is None:
            results.append(None)
            continue
        shape = (preset, built["model_dir"], built["config"], built["parameters"])
        last = index == len(presets) - 1
        mine = [guarded(lambda: measure(*shape, "today's trainer: bf16 LoRA", True, today)),
                guarded(lambda: measure(*shape, "improved trainer: bf16 LoRA, packed, chunked loss, compiled", True, improved,
                                        torch_profile=args.torch_profile and last)),
                guarded(lambda: measure(*shape, "bf16 full fine-tune (baseline)", False, today))]
        if args.levers and index == 0:
            for lever, value in (("packing", True), ("loss_chunk", 8192), ("compile", True), ("attention", "flex_attention"), ("attention", "eager")):
                guarded(lambda: measure(*shape, f"today's LoRA with {lever}={value}", True, {**today, lever: value}))
        results.extend(mine)
        if all(r is not None for r in mine):
            print(json.dumps({"event": "summary", "preset": preset, "improved_over_today": round(mine[1]["tokens_per_s"] / mine[0]["tokens_per_s"], 2),
                              "improved_over_full": round(mine[1]["tokens_per_s"] / mine[2]["tokens_per_s"], 2),
                              "mfu": {"today": mine[0]["mfu"], "improved": mine[1]["mfu"], "full": mine[2]["mfu"]}}), flush=True)
    if not args.skip_real_data:
        results.append(guarded(resume_check))
    return 0 if all(r is not None for r in results) else 1


def top_kernels(profiler: Any, device: str, count: int = 12) -> list[dict[str, Any]]:
    """The operators that took the most time in the profiled steps (GPU time on a GPU), with their share."""
    attribute = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    averages = [a for a in profiler.key_averages() if getattr(a, attribute, 0) > 0]
    total = sum(getattr(a, attribute) for a in averages) or 1
    ranked = sorted(averages, key=lambda a: getattr(a, attribute), reverse=True)[:count]
    return [{"op": a.key[:80], "ms": round(getattr(a, attribute) / 1000, 2), "share": round(getattr(a, attribute) / total, 3), "calls": a.count}
            for a in ranked]


def guarded(part: Any, echo: bool = True) -> dict[str, Any] | None:
    """Runs one part of the check and prints its figures; a failing part is reported and the others still run."""
    import traceback

    try:
        result = part()
        if echo:
            print(json.dumps(result), flush=True)
        return result
    except Exception:
        print(json.dumps({"event": "part-failed", "traceback": traceback.format_exc()}), flush=True)
        return None


if __name__ == "__main__":
    sys.exit(main())
