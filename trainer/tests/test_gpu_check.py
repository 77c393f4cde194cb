"""The GPU check's code paths on CPU (tiny model, a few steps), so the prepared script does not fail on the GPU
machine for a reason a CPU could have shown: every trainer reports its figures, and the profiler its top ops."""

import json
import subprocess
import sys

from conftest import ENV, FIXTURE


def test_the_gpu_check_reports_all_three_trainers_and_a_profile_on_cpu() -> None:
    done = subprocess.run([sys.executable, "-m", "flywheel_trainer.gpu_check", "--data", str(FIXTURE), "--device", "cpu",
                           "--presets", "tiny", "--steps", "3", "--warmup", "1", "--seq", "128", "--micro-batch", "2",
                           "--no-compile", "--torch-profile", "--skip-real-data"],
                          env=ENV, capture_output=True, text=True, timeout=600)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = {e["run"]: e for e in events if e["event"] == "throughput"}
    assert set(runs) == {"today's trainer: bf16 LoRA", "improved trainer: bf16 LoRA, packed, chunked loss, compiled", "bf16 full fine-tune (baseline)"}
    assert all(r["tokens_per_s"] > 0 and r["steps_timed"] == 2 for r in runs.values())
    improved = runs["improved trainer: bf16 LoRA, packed, chunked loss, compiled"]
    assert improved["settings"] == {"attention": "sdpa", "packing": True, "loss_chunk": 8192, "compile": False}
    # The same conversations, the same real tokens per step, packed or padded.
    assert improved["tokens_per_step"] == runs["today's trainer: bf16 LoRA"]["tokens_per_step"]
    assert improved["profile"] and all(op["ms"] >= 0 and 0 <= op["share"] <= 1 for op in improved["profile"])
    summary = next(e for e in events if e["event"] == "summary")
    assert summary["preset"] == "tiny" and summary["improved_over_today"] > 0
